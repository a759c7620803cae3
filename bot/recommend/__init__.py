"""Course recommendations trained on what the store holds (purchases and messages).

Only this package and the recommend cog may import scikit-learn; the core never does.
"""

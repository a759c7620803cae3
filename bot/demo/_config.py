"""The demo community's config file, written once into the demo folder."""

from __future__ import annotations

import secrets
from pathlib import Path

CONFIG_NAME = "config.toml"
GUILD = "100000000000000001"
ROLE = "200000000000000001"
CHAT = "-1001000000001"

# The demo community: a tier, three courses with descriptions (what /recommend suggests from),
# a simulated Discord server and Telegram group. Demo mode: payments go through the web app's
# pretend checkout, and the config refuses any live key or platform token beside it.
TEMPLATE = """\
# The Cohort demo (`cohort demo`, or `make run` without a config.toml). Pretend payments only:
# demo.enabled refuses live Stripe keys and platform tokens. Delete this folder, or run
# `cohort demo --fresh`, to start again.

[demo]
enabled = true

[database]
url = "sqlite+aiosqlite:///cohort.db"

[web]
host = "127.0.0.1"
port = 8080  # `cohort demo` picks a free port at each start and prints it

[stripe]
mode = "test"
# Signs the demo checkout's events, which the bot verifies as it verifies Stripe's.
webhook_secret = "{secret}"

[console]
user = "alice"

[[communities]]
id = "demo"
name = "Cohort Demo Academy"
locale = "en"
timezone = "UTC"
discord_guilds = ["{guild}"]
telegram_chats = ["{chat}"]
organizers = ["console:alice"]
admins = ["console:alice"]

[communities.recommend]
retrain_every = "1h"

[[communities.offers]]
id = "pro"
kind = "tier"
name = "Pro"
description = "The private lounge, every live session and the recordings."
price_monthly = "price_demo_pro_monthly"
discord_roles = ["{guild}:{role}"]
telegram_chats = ["{chat}"]
console_channels = ["lounge"]

[[communities.offers]]
id = "python-101"
kind = "course"
name = "Python for Beginners"
price_once = "price_demo_python_101"

[[communities.offers]]
id = "data-viz"
kind = "course"
name = "Data Visualisation"
price_once = "price_demo_data_viz"

[[communities.offers]]
id = "ml-basics"
kind = "course"
name = "Machine Learning Basics"
price_once = "price_demo_ml_basics"

[[communities.courses]]
id = "python-101"
title = "Python for Beginners"
description = "Variables, loops, functions and your first data analysis with pandas."
tags = ["python", "programming"]

[[communities.courses]]
id = "data-viz"
title = "Data Visualisation"
description = "Charts that explain: matplotlib, seaborn and plotting pandas data frames."
tags = ["python", "charts"]

[[communities.courses]]
id = "ml-basics"
title = "Machine Learning Basics"
description = "Regression, classification and model evaluation with scikit-learn."
tags = ["python", "machine-learning"]
"""


def write_config(directory: Path) -> Path:
    """Write the demo config into ``directory`` unless it is there; return its path."""
    path = directory / CONFIG_NAME
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        text = TEMPLATE.format(
            secret="whsec_demo_" + secrets.token_hex(16), guild=GUILD, role=ROLE, chat=CHAT
        )
        path.write_text(text, encoding="utf-8")
    return path

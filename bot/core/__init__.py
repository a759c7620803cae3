"""Platform-neutral core: commands, context, replies, events, ports, identity, clock, i18n."""

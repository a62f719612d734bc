# Makes conf/ an importable package (ganxfer.conf) so Hydra finds it with pkg:// after install.

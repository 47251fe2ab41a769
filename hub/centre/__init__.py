"""Three-level command (市、街道、社区): the command-centre mode, and a community's link to it.

    config.py   the centre's config file
    board.py    the combined alert state of many communities, idempotent, in the centre's SQLite
    service.py  `Centre`: subscribes to the communities, keeps the board, acts, issues warnings
    warn.py     the centre's outgoing CAP 1.2 warnings (rendered and optionally signed)
    api.py      the centre's HTTP app: communities, drill-down, actions, warnings, live feed
    page.py     the centre's page
    actions.py  the acknowledge / clear message the centre sends down to a community hub
    link.py     the community hub's side: acks and CAP in, roll-ups out, CAP feeds polled
"""

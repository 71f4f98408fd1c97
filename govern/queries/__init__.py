"""The read side of the core: every entry point (API, web, CLI, Slack, agendas, playbook, maturity) asks its questions
here, so that each question has one answer and no adapter holds a rule or its own copy of a query.

- `states`       what each lifecycle state is (kind: active / evaluation / parked / final) and what people call it
- `portfolio`    the portfolio filter (journey = that journey and its subtree; unknown names are NotFound;
                 open-only or all is an explicit choice)
- `requests`     pending approval requests of one opportunity, of many, or of part of the portfolio
- `rights`       decision rights: who may approve, reject and withdraw a request (the permission table and the rule)
- `reference`    the small reference tables (journeys, people, personas), read once per transaction whoever asks
- `evaluations`  due evaluations (domain state written by the lifecycle's `schedule_evaluation` effect)

Pure SQLAlchemy 2 reads. The core imports nothing from flask, click or the capabilities: what only the lifecycle
engine knows (evaluating an approval rule) is passed in by the caller through a small protocol
(`rights.ApprovalStanding`), and lifecycle definitions are read as the data `govern apply` stored (see `states`).
The available transitions of many opportunities at once need the engine's guards:
`govern.workflows.services.available_transitions_many` (bounded statements).
"""

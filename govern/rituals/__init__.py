"""Review rituals: cadences, the leader-elected scheduler, agendas, minutes, decisions and calendar feeds."""

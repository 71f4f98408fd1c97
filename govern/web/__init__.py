"""The council's web app: server-rendered pages for reviews, approvals and the journey framework."""

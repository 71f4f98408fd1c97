"""The organisation file (govern.yaml): its schema and checks (`schema`), the plan and apply against the database
(`apply`), loading with every capability's section validator (`load`), and the generated reference (`reference`)."""

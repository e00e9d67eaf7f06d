"""Jobs 2 and 3's models: kickoff estimates (effort, duration, overrun) and churn risk, with reasons."""

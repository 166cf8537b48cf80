collect_ignore = ["conf.py", "_ext"]

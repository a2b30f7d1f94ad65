print("ipsyncd: not built yet")

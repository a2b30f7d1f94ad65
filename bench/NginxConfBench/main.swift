print("nginxconf-bench: not built yet")

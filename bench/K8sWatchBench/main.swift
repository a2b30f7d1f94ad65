print("k8swatch-bench: not built yet")

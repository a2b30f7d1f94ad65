package enum K8sWatchModule {}

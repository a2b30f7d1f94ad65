package enum IpsyncdCoreModule {}

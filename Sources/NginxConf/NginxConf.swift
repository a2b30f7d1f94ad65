package enum NginxConfModule {}

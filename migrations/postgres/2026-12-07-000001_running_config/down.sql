DROP TABLE running_configs;

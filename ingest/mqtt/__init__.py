"""MQTT → Kafka bridge: subscribes to sensor topics on an MQTT broker and produces sensor readings."""

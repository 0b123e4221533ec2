//! MQTT 5 shared subscriptions across replicas.

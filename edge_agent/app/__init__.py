"""The application: wiring (settings -> engines), the daemon's lifecycle, and its services
(systemd notify, the MQTT bridge) behind one interface."""

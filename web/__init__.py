"""Server-rendered pages for people who do not live in Grafana (technicians, owners). They call the same service
functions as the API (``people.service``, ``workorders.service`` / ``flows``, ``notices.service``)."""

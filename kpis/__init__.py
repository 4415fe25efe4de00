"""KPIs: one definition of every key figure of the property plans (kpis.definitions), one computation
(kpis.service) used by the daily report, the API and the dashboards, and a watch that warns a site's managers when
a KPI changes colour (kpis.scheduled)."""

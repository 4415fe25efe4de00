FROM python:3.11-slim
# a CJK font for the report's charts and PDF (Chinese text)
RUN apt-get update && apt-get install -y --no-install-recommends fonts-wqy-microhei && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
# the service's packages (not devtools/, bench/, tests/: developer tooling stays out of the image)
COPY community community
COPY core core
COPY gateway gateway
COPY ingest ingest
COPY devices devices
COPY people people
COPY register register
COPY reports reports
COPY intake intake
COPY kpis kpis
COPY workorders workorders
COPY notices notices
COPY notifications notifications
COPY alerts alerts
COPY web web
COPY dashboards dashboards
COPY simulator simulator
# the translations are compiled from their catalogs first, so the package ships the .mo files
RUN pip install --no-cache-dir "babel>=2.14" && pybabel compile -d core/locale \
    && pip install --no-cache-dir . \
    && useradd --system community && mkdir /data && chown community /data
USER community
CMD ["community", "run"]

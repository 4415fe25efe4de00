FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY community community
COPY gateway gateway
COPY ingest ingest
COPY alerts alerts
COPY dashboards dashboards
COPY simulator simulator
RUN pip install --no-cache-dir . \
    && useradd --system community && mkdir /data && chown community /data
USER community
CMD ["community", "run"]

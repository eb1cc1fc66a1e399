# One image for the four services; the command picks which (python -m crm_<service>).
FROM python:3.11-slim
WORKDIR /app
COPY libs ./libs
COPY services ./services
COPY tools/cli ./tools/cli
RUN pip install --no-cache-dir -e libs/contracts -e libs/runtime -e tools/cli \
      -e services/identity -e services/seats -e services/notifications -e services/routing
ENV HTTP_HOST=0.0.0.0 PYTHONUNBUFFERED=1

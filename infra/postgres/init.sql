-- One database per service (docker-compose; `make up` creates the same ones).
CREATE DATABASE crm_identity;
CREATE DATABASE crm_seats;
CREATE DATABASE crm_notifications;
CREATE DATABASE crm_routing;

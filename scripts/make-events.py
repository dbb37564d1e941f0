#!/usr/bin/env python3
"""Writes the sample Lambda events under events/ (see events/README.md).

One API Gateway HTTP API (v2) event per route, as the deployed API sends them to the route's
function, for the seed-42 tenant Northwind Traders, and the REST API (v1) samples' token.
Service tokens live at most an hour, so the committed files carry the placeholder
`${SERVICE_TOKEN}`: replace it with a fresh token before invoking (the Lambda tests do).

    python3 scripts/make-events.py              # the placeholder (what is committed)
    python3 scripts/make-events.py "$(cargo run -q -p wrapper-sync-cli -- token service \
        --tenant 2c7d7dac-1dd6-4354-86a4-971df10ddb6a)"   # or a real token, for a local try
"""
import json
import pathlib
import re
import sys

TENANT = "2c7d7dac-1dd6-4354-86a4-971df10ddb6a"
# (function, file stem, method, route path, query string, body)
ROUTES = [
    ("tenants-api", "tenant", "GET", "/tenants/{tenantId}", "", None),
    ("tenants-api", "users", "GET", "/tenants/{tenantId}/users", "limit=3", None),
    ("tenants-api", "tenant-users", "GET", "/tenants/{tenantId}/tenant-users", "limit=3", None),
    ("tenants-api", "organizations", "GET", "/tenants/{tenantId}/organizations", "", None),
    ("tenants-api", "employee-assignments", "GET", "/tenants/{tenantId}/employee-assignments", "limit=3", None),
    ("tenants-api", "bootstrap", "POST", "/tenants/{tenantId}/bootstrap", "", '{"appCode":"crm","requestedBy":"events"}'),
    ("roles-api", "roles", "GET", "/tenants/{tenantId}/roles", "appCode=crm", None),
    ("roles-api", "role-assignments", "GET", "/tenants/{tenantId}/role-assignments", "limit=3", None),
    ("credits-api", "credit-configs-global", "GET", "/credit-configs/global", "appCode=hr", None),
    ("credits-api", "credit-configs", "GET", "/tenants/{tenantId}/credit-configs", "appCode=crm", None),
    ("credits-api", "credit-configs-tenant-specific", "GET", "/tenants/{tenantId}/credit-configs/tenant-specific", "appCode=crm", None),
    ("credits-api", "entity-credits", "GET", "/tenants/{tenantId}/entity-credits", "appCode=crm", None),
    ("sync-api", "data-requirements", "GET", "/data-requirements", "", None),
    ("sync-api", "openapi", "GET", "/openapi.yaml", "", None),
    ("sync-api", "sync", "POST", "/tenants/{tenantId}/sync", "skipReferenceData=true", None),
    ("sync-api", "sync-status", "GET", "/tenants/{tenantId}/sync/status", "", None),
]
# The change route takes a write token (`token service --write`), placeholder `${WRITE_TOKEN}`.
CHANGE = json.dumps([{
    "changeId": "sample-http-1", "type": "user", "op": "upsert", "tenantId": TENANT, "sourceVersion": 1,
    "occurredAt": "2026-11-24T12:00:00.000Z",
    "record": {"userId": "sample-http-user", "email": "sample.http@northwind.example", "firstName": "Sample",
               "lastName": "Http", "createdAt": "2026-11-24T12:00:00.000Z"},
}], separators=(",", ":"))
WRITE_ROUTES = [("ingest", "changes", "POST", "/tenants/{tenantId}/changes", "", CHANGE)]


def http_api_event(stem, method, route, query, body, token):
    path = "/api/sync" + route.replace("{tenantId}", TENANT)
    headers = {"accept": "application/json", "authorization": f"Bearer {token}", "host": "api.example.com",
               "x-request-id": f"event-{stem}"}
    if body is not None:
        headers["content-type"] = "application/json"
    event = {
        "version": "2.0",
        "routeKey": f"{method} /api/sync{route}",
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
    }
    if query:
        event["queryStringParameters"] = dict(pair.split("=", 1) for pair in query.split("&"))
    if "{tenantId}" in route:
        event["pathParameters"] = {"tenantId": TENANT}
    event["requestContext"] = {
        "accountId": "123456789012", "apiId": "api-id", "domainName": "api.example.com", "domainPrefix": "api",
        "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "events"},
        "requestId": f"event-{stem}", "routeKey": f"{method} /api/sync{route}", "stage": "$default",
        "time": "24/Nov/2026:12:00:00 +0000", "timeEpoch": 1795521600000,
    }
    event["body"] = body
    event["isBase64Encoded"] = False
    return event


def main():
    if len(sys.argv) > 2 or (len(sys.argv) == 2 and not re.fullmatch(r"[\w-]+\.[\w-]+\.[\w-]+", sys.argv[1])):
        sys.exit(__doc__)
    token = sys.argv[1] if len(sys.argv) == 2 else "${SERVICE_TOKEN}"
    root = pathlib.Path(__file__).resolve().parent.parent / "events"
    routes = [(r, token) for r in ROUTES] + [(r, "${WRITE_TOKEN}") for r in WRITE_ROUTES]
    for (function, stem, method, route, query, body), bearer in routes:
        target = root / function / f"{stem}.http-api.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(http_api_event(stem, method, route, query, body, bearer), indent=2) + "\n")
    for rest in sorted(root.glob("*/*.rest-api.json")):
        text = re.sub(r"Bearer [\w.${}-]+", f"Bearer {token}", rest.read_text())
        rest.write_text(text)


if __name__ == "__main__":
    main()

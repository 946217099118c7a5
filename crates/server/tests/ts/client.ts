// A client of the hub written against the types that openapi-typescript generates from
// the hub's /openapi.json (`schema.d.ts`). It compiles under `tsc --strict` without
// casts only when the document types every path, parameter, request body and answer
// precisely; run against a live hub (HUB_URL, HUB_KEY: an admin API key), it calls the
// main routes of every capability and prints "ok".

import createClient from "openapi-fetch";
import type { paths } from "./schema";

// The one Node global this program uses (no @types/node is installed).
declare const process: {
  env: Record<string, string | undefined>;
  exitCode?: number;
};

const hubUrl = process.env.HUB_URL;
const hubKey = process.env.HUB_KEY;
if (hubUrl === undefined || hubKey === undefined) {
  throw new Error("HUB_URL and HUB_KEY must be set");
}

const hub = createClient<paths>({
  baseUrl: hubUrl,
  headers: { Authorization: `Bearer ${hubKey}` },
});

/** What every openapi-fetch call answers: `data` on success, else `error`. */
interface Answer<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/** The answer's data when it has exactly `status`; throws on anything else. */
async function expectStatus<T>(what: string, status: number, call: Promise<Answer<T>>): Promise<T> {
  const { data, error, response } = await call;
  if (response.status !== status || data === undefined) {
    const body = JSON.stringify(error ?? data ?? null);
    throw new Error(`${what}: expected ${status}, got ${response.status}: ${body}`);
  }
  return data;
}

function check(condition: boolean, what: string): void {
  if (!condition) {
    throw new Error(`check failed: ${what}`);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Calls `probe` until it answers something other than `undefined`, for at most 20 s. */
async function eventually<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const found = await probe();
    if (found !== undefined) {
      return found;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await sleep(100);
  }
}

async function operations(): Promise<void> {
  const health = await expectStatus("GET /healthz", 200, hub.GET("/healthz"));
  check(health.status === "ok", "healthz status is ok");
  check(health.version.length > 0, "healthz names a version");
}

async function keys(): Promise<void> {
  const created = await expectStatus(
    "POST /v1/keys",
    201,
    hub.POST("/v1/keys", { body: { name: "reporting", scopes: ["read"], expires_in: "90d" } }),
  );
  const id: string = created.id;
  check(created.key.startsWith("sk_"), "a new key shows its raw secret");
  check(created.scopes.length === 1 && created.scopes[0] === "read", "the key is read-only");
  check(created.status === "active", "a new key is active");
  check(typeof created.expires_at === "string", "the key expires");

  const list = await expectStatus("GET /v1/keys", 200, hub.GET("/v1/keys", { params: { query: { limit: 100 } } }));
  check(list.data.some((k) => k.id === id), "the new key is listed");

  const one = await expectStatus("GET /v1/keys/{id}", 200, hub.GET("/v1/keys/{id}", { params: { path: { id } } }));
  check(one.name === "reporting" && one.hint.startsWith("sk_…"), "the key shows its name and hint");

  const missing = await hub.GET("/v1/keys/{id}", { params: { path: { id: "key_00000000000000000000000000" } } });
  check(missing.response.status === 404, "an unknown key is 404");
  check(missing.error?.code === "not_found", "an unknown key is a not_found problem");

  // The read-only key reads.
  const reader = createClient<paths>({
    baseUrl: hubUrl,
    headers: { Authorization: `Bearer ${created.key}` },
  });
  const seen = await expectStatus("GET /v1/keys with the read key", 200, reader.GET("/v1/keys"));
  check(seen.data.some((k) => k.id === id), "the read key lists keys");
}

async function sources(): Promise<void> {
  const created = await expectStatus(
    "POST /v1/sources",
    201,
    hub.POST("/v1/sources", {
      body: { name: "stripe-main", kind: "stripe", secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" },
    }),
  );
  const id: string = created.id;
  check(created.kind === "stripe" && created.enabled, "the source is an enabled stripe source");
  check(created.intake_url.endsWith(`/in/${id}`), "the intake URL names the source");

  const list = await expectStatus("GET /v1/sources", 200, hub.GET("/v1/sources"));
  check(list.data.some((s) => s.id === id), "the source is listed");

  const one = await expectStatus("GET /v1/sources/{id}", 200, hub.GET("/v1/sources/{id}", { params: { path: { id } } }));
  check(one.name === "stripe-main", "the source keeps its name");

  const changed = await expectStatus(
    "PATCH /v1/sources/{id}",
    200,
    hub.PATCH("/v1/sources/{id}", {
      params: { path: { id } },
      body: { name: "stripe-renamed", tolerance_secs: 600 },
    }),
  );
  check(changed.name === "stripe-renamed", "the source is renamed");
  check(changed.settings.tolerance_secs === 600, "the source's tolerance is changed");
}

/** Creates an endpoint subscribed to `order.*`; returns its id. */
async function endpoints(): Promise<string> {
  const created = await expectStatus(
    "POST /v1/endpoints",
    201,
    hub.POST("/v1/endpoints", {
      body: {
        url: "http://127.0.0.1:9/hook",
        event_types: ["order.*"],
        description: "orders",
        headers: { "x-team": "shipping" },
      },
    }),
  );
  const id: string = created.id;
  check(created.secret?.startsWith("whsec_") === true, "a new endpoint shows its secret");
  check(created.event_types.length === 1 && created.event_types[0] === "order.*", "the endpoint's subscription");
  check(created.headers["x-team"] === "********", "the endpoint's extra header, its value masked");

  const list = await expectStatus("GET /v1/endpoints", 200, hub.GET("/v1/endpoints"));
  check(list.data.some((e) => e.id === id && e.secret === undefined), "the endpoint is listed without its secret");
  return id;
}

/** Publishes an event (twice, with one Idempotency-Key); returns its id. */
async function events(): Promise<string> {
  const publish = () =>
    hub.POST("/v1/events", {
      params: { header: { "Idempotency-Key": "order-7-shipped" } },
      body: { type: "order.shipped", data: { order: 7 } },
    });
  const published = await expectStatus("POST /v1/events", 202, publish());
  const id: string = published.id;
  check(id.startsWith("evt_"), "the event has an event id");
  const again = await expectStatus("POST /v1/events again", 202, publish());
  check(again.id === id, "the same Idempotency-Key answers the same event");

  const list = await expectStatus(
    "GET /v1/events",
    200,
    hub.GET("/v1/events", { params: { query: { type: "order.shipped", limit: 10 } } }),
  );
  check(list.data.length === 1 && list.data[0].id === id, "one event is stored");

  const event = await expectStatus("GET /v1/events/{id}", 200, hub.GET("/v1/events/{id}", { params: { path: { id } } }));
  check(event.type === "order.shipped", "the event keeps its type");
  const payload: unknown = event.payload;
  check(
    typeof payload === "object" && payload !== null && "order" in payload && payload.order === 7,
    "the event keeps its data",
  );
  return id;
}

async function deliveries(endpoint: string, event: string): Promise<void> {
  const delivery = await eventually("the event's delivery", async () => {
    const page = await expectStatus(
      "GET /v1/endpoints/{id}/deliveries",
      200,
      hub.GET("/v1/endpoints/{id}/deliveries", {
        params: { path: { id: endpoint }, query: { event_id: event } },
      }),
    );
    return page.data.find((d) => d.event_id === event);
  });
  check(delivery.endpoint_id === endpoint, "the delivery goes to the endpoint");
  check(["pending", "succeeded", "failed"].includes(delivery.state), "the delivery has a state");
}

async function credits(account: string): Promise<void> {
  const granted = await expectStatus(
    "POST /v1/accounts/{account}/credits",
    200,
    hub.POST("/v1/accounts/{account}/credits", {
      params: { path: { account } },
      body: { channel: "email", amount: 10, reason: "monthly plan" },
    }),
  );
  check(granted.account === account && granted.email === 10, "the grant shows the balance");

  const balances = await expectStatus(
    "GET /v1/accounts/{account}/credits",
    200,
    hub.GET("/v1/accounts/{account}/credits", { params: { path: { account } } }),
  );
  check(balances.email === 10, "the email balance");
  check(balances.sms === null || balances.sms === undefined, "sms is not metered");

  const ledger = await expectStatus(
    "GET /v1/accounts/{account}/credits/ledger",
    200,
    hub.GET("/v1/accounts/{account}/credits/ledger", { params: { path: { account } } }),
  );
  check(
    ledger.data.some((e) => e.kind === "grant" && e.delta === 10 && e.channel === "email"),
    "the ledger shows the grant",
  );
}

async function messaging(account: string): Promise<void> {
  const template = await expectStatus(
    "POST /v1/templates",
    201,
    hub.POST("/v1/templates", {
      body: { name: "welcome", subject: "Welcome, {{ name }}", text: "Hello {{ name }}!" },
    }),
  );
  check(template.name === "welcome", "the template keeps its name");

  const email = await expectStatus(
    "POST /v1/emails",
    202,
    hub.POST("/v1/emails", {
      params: { header: { "Idempotency-Key": "order-7-email" } },
      body: {
        from: "Shop <shop@example.com>",
        to: ["ada@example.com"],
        subject: "Your order",
        text: "Thanks!",
        account,
      },
    }),
  );
  const emailId: string = email.id;
  check(email.status === "queued", "the email is queued");

  const welcome = await expectStatus(
    "POST /v1/emails with a template",
    202,
    hub.POST("/v1/emails", {
      body: { from: "shop@example.com", to: "grace@example.com", template: "welcome", data: { name: "Grace" } },
    }),
  );
  check(welcome.id !== emailId, "another email is another message");

  const sms = await expectStatus(
    "POST /v1/sms",
    202,
    hub.POST("/v1/sms", { body: { to: "+14155550123", body: "Your order has shipped" } }),
  );
  const smsId: string = sms.id;

  const emails = await expectStatus(
    "GET /v1/messages",
    200,
    hub.GET("/v1/messages", { params: { query: { channel: "email" } } }),
  );
  check(emails.data.length === 2 && emails.data.every((m) => m.channel === "email"), "two emails are listed");
  const all = await expectStatus("GET /v1/messages", 200, hub.GET("/v1/messages"));
  check(all.data.some((m) => m.id === smsId), "the SMS is listed");

  const sent = await eventually("the email to be sent", async () => {
    const detail = await expectStatus(
      "GET /v1/messages/{id}",
      200,
      hub.GET("/v1/messages/{id}", { params: { path: { id: emailId } } }),
    );
    return detail.status === "sent" ? detail : undefined;
  });
  check(sent.provider === "console", "the console provider sent it");
  check(sent.recipients.length === 1 && sent.recipients[0] === "ada@example.com", "the recipient");
  check(sent.credits === 1 && sent.account === account, "one credit is charged to the account");
  check(sent.history.some((h) => h.status === "queued"), "the history starts queued");
  check(sent.attempts.some((a) => a.provider === "console" && a.outcome === "sent"), "the attempt");

  const providers = await expectStatus("GET /v1/providers", 200, hub.GET("/v1/providers"));
  for (const channel of ["email", "sms"]) {
    check(
      providers.data.some((p) => p.channel === channel && p.kind === "console" && !p.breaker_open),
      `the ${channel} console provider is in use`,
    );
  }
}

async function payments(): Promise<void> {
  // A Stripe provider configured at run time, pointed at a port where nothing listens:
  // the hub commits the customer first, so a provider that is down leaves it `creating`.
  const put = await expectStatus(
    "PUT /v1/providers/{capability}/{name}",
    201,
    hub.PUT("/v1/providers/{capability}/{name}", {
      params: { path: { capability: "payments", name: "stripe" } },
      body: { kind: "stripe", secret_key: "sk_test_client", base_url: "http://127.0.0.1:9", max_retries: 0 },
    }),
  );
  check(put.name === "stripe" && put.kind === "stripe", "the payment provider is in use");
  check(!JSON.stringify(put).includes("sk_test_client"), "the secret key is never shown");

  const down = await hub.POST("/v1/payments/customers", {
    body: { email: "ada@example.com", name: "Ada", external_id: "u_42" },
  });
  check(down.response.status === 503, "a provider that is down is 503");
  check(down.error?.code === "provider_unavailable", "a provider_unavailable problem");
  check(down.response.headers.get("retry-after") !== null, "with Retry-After");

  const found = await expectStatus(
    "GET /v1/payments/customers",
    200,
    hub.GET("/v1/payments/customers", { params: { query: { external_id: "u_42" } } }),
  );
  const customer = found.data[0];
  check(found.data.length === 1 && customer !== undefined, "the customer was committed before the call");
  check(customer.state === "creating" && !customer.subscribed, "it waits for the provider, unsubscribed");
  const one = await expectStatus(
    "GET /v1/payments/customers/{id}",
    200,
    hub.GET("/v1/payments/customers/{id}", { params: { path: { id: customer.id } } }),
  );
  check(one.external_id === "u_42" && one.subscriptions.length === 0, "the customer by id");

  const subs = await expectStatus(
    "GET /v1/payments/subscriptions",
    200,
    hub.GET("/v1/payments/subscriptions", { params: { query: { customer: customer.id } } }),
  );
  check(subs.data.length === 0, "no subscriptions yet");
}

async function main(): Promise<void> {
  await operations();
  await keys();
  await sources();
  const endpoint = await endpoints();
  const event = await events();
  await deliveries(endpoint, event);
  await credits("acme");
  await messaging("acme");
  await payments();
  console.log("ok");
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});

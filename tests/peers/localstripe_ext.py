"""A Stripe test peer: localstripe extended in-process with the APIs it lacks.

Runs localstripe's aiohttp app and adds to it Checkout Sessions, Billing
Portal sessions, Connect accounts and account links, test-only routes that
play the buyer and the connected account, and the webhooks real Stripe sends
on subscription updates and refunds. Requests are form-encoded, answers are
JSON, errors are Stripe-shaped; events are localstripe `Event`s, so they are
listed by `GET /v1/events` and signed for every webhook registered with
`POST /_config/webhooks/{id}`.

Started as:

    python tests/peers/localstripe_ext.py --port 0

It binds 127.0.0.1 only (port 0 picks a free port), prints exactly one line
`listening on http://127.0.0.1:PORT` to stdout and serves until killed.
Logs go to stderr. The store lives in memory only, so instances running side
by side never share state.

Routes added (the `/_test/` routes and the browser pages need no API key):

    POST /v1/checkout/sessions
    GET  /v1/checkout/sessions/{id}
    POST /v1/checkout/sessions/{id}/expire
    POST /_test/checkout/sessions/{id}/complete     [payment_status=unpaid]
    POST /_test/checkout/sessions/{id}/async_succeeded
    POST /_test/checkout/sessions/{id}/async_failed
    POST /_test/checkout/sessions/{id}/expire
    POST /v1/billing_portal/sessions
    POST /v1/accounts
    GET  /v1/accounts/{id}
    POST /v1/account_links
    POST /_test/accounts/{id}/onboard
    GET  /pay/{id}, /portal/{id}, /onboard/{id}     (plain HTML pages)
"""
import argparse
import asyncio
import html
import inspect
import logging
import re
import socket
import sys
import time

from aiohttp import web
from localstripe import errors, resources, server, webhooks

BASE_URL = web.AppKey("base_url", str)

ANY = "any"
SCALAR = "scalar"
MAP = "map"
STRINGS = "strings"

OPEN_PATH_PREFIXES = ("/_test/", "/pay/", "/portal/", "/onboard/")
INTERVALS = ("day", "week", "month", "year")
ACCOUNT_TYPES = ("custom", "express", "standard")
ONBOARDING_DUE = ("external_account", "tos_acceptance.date")
SESSION_LIFETIME = 86400
ACCOUNT_LINK_LIFETIME = 300


class MapOf:
    """A parameter rule: an object with free keys, each value following `rule`."""

    def __init__(self, rule):
        self.rule = rule


DESTINATION = {"destination": SCALAR}
PRICE_DATA = {
    "currency": SCALAR,
    "unit_amount": SCALAR,
    "product_data": {"name": SCALAR},
    "recurring": {"interval": SCALAR, "interval_count": SCALAR},
}
CHECKOUT_SESSION_PARAMS = {
    "mode": SCALAR,
    "line_items": [{"price": SCALAR, "price_data": PRICE_DATA, "quantity": SCALAR}],
    "success_url": SCALAR,
    "cancel_url": SCALAR,
    "customer": SCALAR,
    "customer_email": SCALAR,
    "client_reference_id": SCALAR,
    "metadata": MAP,
    "payment_intent_data": {
        "metadata": MAP,
        "application_fee_amount": SCALAR,
        "transfer_data": DESTINATION,
    },
    "subscription_data": {
        "metadata": MAP,
        "application_fee_percent": SCALAR,
        "transfer_data": DESTINATION,
    },
    "expand": STRINGS,
}
PORTAL_SESSION_PARAMS = {"customer": SCALAR, "return_url": SCALAR, "expand": STRINGS}
ACCOUNT_PARAMS = {
    "type": SCALAR,
    "email": SCALAR,
    "country": SCALAR,
    "capabilities": MapOf({"requested": SCALAR}),
    "metadata": MAP,
    "expand": STRINGS,
}
ACCOUNT_LINK_PARAMS = {
    "account": SCALAR,
    "type": SCALAR,
    "refresh_url": SCALAR,
    "return_url": SCALAR,
}
COMPLETE_PARAMS = {"payment_status": SCALAR}
RETRIEVE_PARAMS = {"expand": STRINGS}

SUBSCRIPTION_UPDATE_PATH = re.compile(
    r"^/v1/(?:customers/[^/]+/)?subscriptions/(?P<id>[^/]+)$"
)


class CheckoutSession(resources.StripeObject):
    object = "checkout.session"
    _id_prefix = "cs_test_"

    def __init__(self, base_url, mode, line_items, success_url, cancel_url=None,
                 customer=None, customer_email=None, client_reference_id=None,
                 metadata=None, payment_intent_data=None, subscription_data=None):
        super().__init__()
        self.mode = mode
        self.status = "open"
        self.payment_status = "unpaid"
        self.url = f"{base_url}/pay/{self.id}"
        self.success_url = success_url
        self.cancel_url = cancel_url
        self.customer = customer
        self.customer_email = customer_email
        self.customer_details = None
        self.client_reference_id = client_reference_id
        self.metadata = metadata or {}
        self.amount_subtotal = sum(i["unit_amount"] * i["quantity"] for i in line_items)
        self.amount_total = self.amount_subtotal
        self.currency = line_items[0]["currency"]
        self.expires_at = self.created + SESSION_LIFETIME
        self.payment_intent = None
        self.subscription = None
        self.invoice = None
        self._line_items = line_items
        self._payment_intent_data = payment_intent_data or {}
        self._subscription_data = subscription_data or {}
        self._awaiting_payment = False


class PortalSession(resources.StripeObject):
    object = "billing_portal.session"
    _id_prefix = "bps_"

    def __init__(self, base_url, customer, return_url=None):
        super().__init__()
        self.customer = customer
        self.return_url = return_url
        self.url = f"{base_url}/portal/{self.id}"


class Account(resources.StripeObject):
    object = "account"
    _id_prefix = "acct_"

    def __init__(self, type, email=None, country="US", capabilities=(), metadata=None):
        super().__init__()
        self.type = type
        self.email = email
        self.country = country
        self.capabilities = {name: "inactive" for name in capabilities}
        self.charges_enabled = False
        self.payouts_enabled = False
        self.details_submitted = False
        self.requirements = requirements(ONBOARDING_DUE)
        self.metadata = metadata or {}


def requirements(due):
    return {
        "currently_due": list(due),
        "eventually_due": list(due),
        "past_due": [],
        "disabled_reason": "requirements.past_due" if due else None,
    }


def error(message, param=None, status=400, code=None):
    contents = {}
    if param is not None:
        contents["param"] = param
    if code is not None:
        contents["code"] = code
    return errors.UserError(status, message, contents)


def missing_param(name):
    return error(f"Missing required param: {name}.", name)


def no_such(kind, id, param):
    return error(f"No such {kind}: '{id}'", param, 404, "resource_missing")


def stored(kind, id):
    if not isinstance(id, str):
        return None
    return resources.store.get(f"{kind}:{id}")


def emit(type, obj, previous=None, account=None):
    event = resources.Event(type, obj)
    if previous:
        event.data["previous_attributes"] = previous
    if account is not None:
        event.account = account
    webhooks.schedule_webhook(event)
    return event


def emit_updated(type, obj, before, account=None):
    """Emits `type` with the attributes that changed since `before` (an export)."""
    after = obj._export()
    previous = {key: value for key, value in before.items() if after.get(key) != value}
    return emit(type, obj, previous=previous, account=account)


def refresh_new_events(known_keys, obj):
    """Re-exports `obj` into the events created since `known_keys` about it."""
    for key in resources.store.keys() - known_keys:
        event = resources.store[key]
        if key.startswith("event:") and event.data["object"].get("id") == obj.id:
            event.data["object"] = obj._export()


def check_params(data, schema, prefix=None):
    for key, value in data.items():
        name = key if prefix is None else f"{prefix}[{key}]"
        if key not in schema:
            raise error(f"Received unknown parameter: {name}", name)
        check_value(value, schema[key], name)


def check_value(value, rule, name):
    if isinstance(rule, list):
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise error("Invalid array", name)
        for index, item in enumerate(value):
            check_params(item, rule[0], f"{name}[{index}]")
    elif isinstance(rule, dict):
        if not isinstance(value, dict):
            raise error("Invalid object", name)
        check_params(value, rule, name)
    elif isinstance(rule, MapOf):
        if not isinstance(value, dict):
            raise error("Invalid object", name)
        for key, item in value.items():
            check_value(item, rule.rule, f"{name}[{key}]")
    elif rule == ANY:
        return
    elif rule == MAP:
        if value != "" and not is_flat_map(value):
            raise error("Invalid object", name)
    elif rule == STRINGS:
        if not isinstance(value, (str, list)) or not all(isinstance(v, str) for v in list(value)):
            raise error("Invalid array", name)
    elif isinstance(value, (dict, list)):
        raise error(f"Invalid string: {name} must be a string, not an object", name)


def is_flat_map(value):
    return isinstance(value, dict) and not any(isinstance(v, (dict, list)) for v in value.values())


def map_param(value):
    return dict(value) if isinstance(value, dict) else {}


def int_param(value, name, minimum=0):
    number = resources.try_convert_to_int(value)
    if type(number) is not int:
        raise error(f"Invalid integer: {value}", name)
    if number < minimum:
        raise error(f"This value must be greater than or equal to {minimum}.", name)
    return number


def percent_param(value, name):
    number = resources.try_convert_to_float(value)
    if type(number) is not float:
        raise error(f"Invalid decimal: {value}", name)
    if not 0 <= number <= 100:
        raise error("This value must be between 0 and 100.", name)
    return number


def url_param(value, name, required=True):
    if value is None:
        if required:
            raise missing_param(name)
        return None
    if not re.match(r"^https?://[^\s/]+", value):
        raise error("Not a valid URL", name)
    return value


def email_param(value, name):
    if value is not None and not re.match(r"^[^@\s]+@[^@\s]+$", value):
        raise error(f"Invalid email address: {value}", name)
    return value


def currency_param(value, name):
    if value is None:
        raise missing_param(name)
    if not re.match(r"^[a-zA-Z]{3}$", value):
        raise error(f"Invalid currency: {value}", name)
    return value.lower()


def expand_param(data):
    expand = data.pop("expand", None)
    return [expand] if isinstance(expand, str) else expand


def line_item(item, name):
    price, price_data = item.get("price"), item.get("price_data")
    if price is None and price_data is None:
        raise error(f"You must specify either `price` or `price_data` in `{name}`.", name)
    if price is not None and price_data is not None:
        raise error(
            "You may only specify one of these parameters: price, price_data.", f"{name}[price]"
        )
    if item.get("quantity") is None:
        raise error(f"Quantity is required. Add `quantity` to `{name}`.", f"{name}[quantity]")
    quantity = int_param(item["quantity"], f"{name}[quantity]", minimum=1)
    if price is not None:
        return dict(plan_line_item(price, f"{name}[price]"), quantity=quantity)
    return dict(inline_line_item(price_data, f"{name}[price_data]"), quantity=quantity)


def plan_line_item(price, name):
    plan = stored("plan", price)
    if plan is None:
        raise no_such("price", price, name)
    return {
        "plan": plan.id,
        "currency": plan.currency,
        "unit_amount": plan.amount or 0,
        "recurring": {"interval": plan.interval, "interval_count": plan.interval_count},
        "name": plan.name,
    }


def inline_line_item(price_data, name):
    if price_data.get("unit_amount") is None:
        raise missing_param(f"{name}[unit_amount]")
    product_name = price_data.get("product_data", {}).get("name")
    if not product_name:
        raise missing_param(f"{name}[product_data][name]")
    return {
        "plan": None,
        "currency": currency_param(price_data.get("currency"), f"{name}[currency]"),
        "unit_amount": int_param(price_data["unit_amount"], f"{name}[unit_amount]"),
        "recurring": recurring_param(price_data.get("recurring"), f"{name}[recurring]"),
        "name": product_name,
    }


def recurring_param(recurring, name):
    if recurring is None:
        return None
    interval = recurring.get("interval")
    if interval is None:
        raise missing_param(f"{name}[interval]")
    if interval not in INTERVALS:
        raise error(
            f"Invalid {name}[interval]: must be one of day, week, month, or year",
            f"{name}[interval]",
        )
    interval_count = int_param(
        recurring.get("interval_count", 1), f"{name}[interval_count]", minimum=1
    )
    return {"interval": interval, "interval_count": interval_count}


def line_items_param(value, mode):
    if not value:
        raise missing_param("line_items")
    items = [line_item(item, f"line_items[{i}]") for i, item in enumerate(value)]
    if len({item["currency"] for item in items}) > 1:
        raise error("All line items must use the same currency.", "line_items")
    recurring = [i for i, item in enumerate(items) if item["recurring"]]
    if mode == "payment" and recurring:
        raise error(
            "You specified `payment` mode but passed a recurring price. Either switch to "
            "`subscription` mode or use only one-time prices.",
            f"line_items[{recurring[0]}]",
        )
    if mode == "subscription" and not recurring:
        raise error(
            "You must provide at least one recurring price in `subscription` mode "
            "when using prices.",
            "line_items",
        )
    if mode == "subscription" and len(items) != 1:
        raise error(
            "This test peer supports exactly one line item in `subscription` mode.", "line_items"
        )
    return items


def mode_param(value):
    if value is None:
        raise missing_param("mode")
    if value not in ("payment", "subscription"):
        raise error("Invalid mode: must be one of payment or subscription", "mode")
    return value


def customer_param(data):
    customer = data.get("customer")
    if customer is not None and data.get("customer_email") is not None:
        raise error(
            "You may only specify one of these parameters: customer, customer_email.",
            "customer_email",
        )
    if customer is not None and stored("customer", customer) is None:
        raise no_such("customer", customer, "customer")
    return customer


def destination_param(transfer_data, name):
    destination = (transfer_data or {}).get("destination")
    if transfer_data is not None and destination is None:
        raise missing_param(f"{name}[destination]")
    if destination is not None and stored("account", destination) is None:
        raise no_such("destination", destination, f"{name}[destination]")
    return destination


def mode_only(data, key, mode):
    if key in data:
        raise error(f"You can not pass `{key}` in `{mode}` mode.", key)


def payment_intent_data_param(data, amount_total):
    value = data.get("payment_intent_data", {})
    destination = destination_param(
        value.get("transfer_data"), "payment_intent_data[transfer_data]"
    )
    metadata = map_param(value.get("metadata"))
    fee = value.get("application_fee_amount")
    if fee is None:
        return {"application_fee_amount": None, "destination": destination, "metadata": metadata}
    name = "payment_intent_data[application_fee_amount]"
    fee = int_param(fee, name)
    if destination is None:
        raise error(
            "Can only apply an application_fee_amount when the PaymentIntent is attempting "
            "a destination payment (using `transfer_data[destination]`).",
            name,
        )
    if fee > amount_total:
        raise error("The application fee cannot be greater than the amount.", name)
    return {"application_fee_amount": fee, "destination": destination, "metadata": metadata}


def subscription_data_param(data):
    value = data.get("subscription_data", {})
    destination = destination_param(
        value.get("transfer_data"), "subscription_data[transfer_data]"
    )
    percent = value.get("application_fee_percent")
    name = "subscription_data[application_fee_percent]"
    if percent is not None:
        percent = percent_param(percent, name)
        if destination is None:
            raise error(
                "Can only apply an application_fee_percent when the subscription is attempting "
                "a destination payment (using `transfer_data[destination]`).",
                name,
            )
    return {
        "metadata": map_param(value.get("metadata")),
        "application_fee_percent": percent,
        "destination": destination,
    }


def client_reference_id_param(value):
    if value is not None and not 1 <= len(value) <= 200:
        raise error(
            "client_reference_id must be between 1 and 200 characters.", "client_reference_id"
        )
    return value


def checkout_session_args(data):
    check_params(data, CHECKOUT_SESSION_PARAMS)
    mode = mode_param(data.get("mode"))
    success_url = url_param(data.get("success_url"), "success_url")
    cancel_url = url_param(data.get("cancel_url"), "cancel_url", required=False)
    line_items = line_items_param(data.get("line_items"), mode)
    mode_only(data, "subscription_data" if mode == "payment" else "payment_intent_data", mode)
    args = {
        "mode": mode,
        "line_items": line_items,
        "success_url": success_url,
        "cancel_url": cancel_url,
        "customer": customer_param(data),
        "customer_email": email_param(data.get("customer_email"), "customer_email"),
        "client_reference_id": client_reference_id_param(data.get("client_reference_id")),
        "metadata": map_param(data.get("metadata")),
    }
    amount_total = sum(i["unit_amount"] * i["quantity"] for i in line_items)
    if mode == "payment" and amount_total <= 0:
        raise error(
            "The Checkout Session's total amount due must add up to at least 1.", "line_items"
        )
    if mode == "payment":
        args["payment_intent_data"] = payment_intent_data_param(data, amount_total)
    else:
        args["subscription_data"] = subscription_data_param(data)
    return args


def find_session(id):
    session = stored(CheckoutSession.object, id)
    if session is None:
        raise no_such(CheckoutSession.object, id, "id")
    return session


def open_session(id, action):
    session = find_session(id)
    if session.status != "open":
        raise error(
            f"Only Checkout Sessions with a status of `open` can be {action}; "
            f"this one is `{session.status}`.",
            "id",
        )
    return session


def awaiting_session(id):
    session = find_session(id)
    if not session._awaiting_payment:
        raise error("This Checkout Session has no asynchronous payment pending.", "id")
    return session


def find_account(id, param):
    account = stored(Account.object, id)
    if account is None:
        raise no_such(Account.object, id, param)
    return account


def buyer(session):
    if session.customer is not None:
        return resources.Customer._api_retrieve(session.customer)
    return resources.Customer(email=session.customer_email)


def visa_card():
    return resources.PaymentMethod._api_retrieve("pm_card_visa")


def start_payment(session, customer):
    intent = resources.PaymentIntent(
        amount=session.amount_total,
        currency=session.currency,
        customer=customer.id,
        payment_method=visa_card().id,
        metadata=session._payment_intent_data.get("metadata") or None,
    )
    data = session._payment_intent_data
    intent.application_fee_amount = data.get("application_fee_amount")
    destination = data.get("destination")
    intent.transfer_data = {"destination": destination} if destination else None
    return intent


def confirm_payment(intent):
    intent._confirm(on_failure_now=intent._report_failure)


def fail_payment(intent):
    intent.payment_method = None
    intent._report_async_failure()


def set_default_card(customer):
    card = visa_card()
    resources.PaymentMethod._api_attach(card.id, customer=customer.id)
    customer.invoice_settings["default_payment_method"] = card.id


def plan_for(item):
    if item["plan"] is not None:
        return item["plan"]
    plan = resources.Plan(
        amount=item["unit_amount"],
        currency=item["currency"],
        interval=item["recurring"]["interval"],
        interval_count=item["recurring"]["interval_count"],
        product={"name": item["name"]},
    )
    return plan.id


def start_subscription(session, customer, paid):
    """Subscribes the customer; unpaid, the first invoice waits (status `incomplete`)."""
    item = session._line_items[0]
    data = session._subscription_data
    known_keys = set(resources.store.keys())
    deferred_invoice = {} if paid else {"trial_period_days": 0}
    subscription = resources.Subscription(
        customer=customer.id,
        items=[{"plan": plan_for(item), "quantity": item["quantity"]}],
        metadata=dict(data.get("metadata", {})),
        **deferred_invoice,
    )
    subscription.trial_period_days = None
    subscription.application_fee_percent = data.get("application_fee_percent")
    destination = data.get("destination")
    subscription.transfer_data = {"destination": destination} if destination else None
    refresh_new_events(known_keys, subscription)
    return subscription


def activate_subscription(subscription):
    before = subscription._export()
    subscription._create_invoice()
    emit_updated("customer.subscription.updated", subscription, before)


def complete_session(session, paid):
    customer = buyer(session)
    if session.mode == "payment":
        intent = start_payment(session, customer)
        if paid:
            confirm_payment(intent)
        session.payment_intent = intent.id
    else:
        set_default_card(customer)
        subscription = start_subscription(session, customer, paid)
        session.subscription = subscription.id
        session.invoice = subscription.latest_invoice
    session.customer = customer.id
    session.customer_details = {"email": customer.email, "name": customer.name}
    session.status = "complete"
    session.payment_status = "paid" if paid else "unpaid"
    session._awaiting_payment = not paid
    emit("checkout.session.completed", session)


def settle_session(session, succeeded):
    session._awaiting_payment = False
    if session.mode == "payment":
        intent = resources.PaymentIntent._api_retrieve(session.payment_intent)
        (confirm_payment if succeeded else fail_payment)(intent)
    elif succeeded:
        subscription = resources.Subscription._api_retrieve(session.subscription)
        activate_subscription(subscription)
        session.invoice = subscription.latest_invoice
    if succeeded:
        session.payment_status = "paid"
        emit("checkout.session.async_payment_succeeded", session)
    else:
        emit("checkout.session.async_payment_failed", session)


def expire_session(session):
    session.status = "expired"
    emit("checkout.session.expired", session)


def onboard_account(account):
    before = account._export()
    account.charges_enabled = True
    account.payouts_enabled = True
    account.details_submitted = True
    account.requirements = requirements(())
    account.capabilities = {name: "active" for name in account.capabilities}
    emit_updated("account.updated", account, before, account=account.id)


async def form(request):
    return dict(await server.get_post_data(request) or {})


def query(request):
    data = server.unflatten_data(request.query)
    check_params(data, RETRIEVE_PARAMS)
    return expand_param(data)


def answer(obj, expand=None):
    return server.json_response(obj._export(expand=expand))


async def create_checkout_session(request):
    data = await form(request)
    args = checkout_session_args(data)
    expand = expand_param(data)
    return answer(CheckoutSession(request.app[BASE_URL], **args), expand)


async def retrieve_checkout_session(request):
    return answer(find_session(request.match_info["id"]), query(request))


async def complete_checkout_session(request):
    session = open_session(request.match_info["id"], "completed")
    data = await form(request)
    check_params(data, COMPLETE_PARAMS)
    payment_status = data.get("payment_status", "paid")
    if payment_status not in ("paid", "unpaid"):
        raise error("Invalid payment_status: must be one of paid or unpaid", "payment_status")
    complete_session(session, payment_status == "paid")
    return answer(session)


async def async_succeeded(request):
    session = awaiting_session(request.match_info["id"])
    settle_session(session, succeeded=True)
    return answer(session)


async def async_failed(request):
    session = awaiting_session(request.match_info["id"])
    settle_session(session, succeeded=False)
    return answer(session)


async def expire_checkout_session(request):
    session = open_session(request.match_info["id"], "expired")
    expire_session(session)
    return answer(session)


async def create_portal_session(request):
    data = await form(request)
    check_params(data, PORTAL_SESSION_PARAMS)
    expand = expand_param(data)
    customer = data.get("customer")
    if customer is None:
        raise missing_param("customer")
    if stored("customer", customer) is None:
        raise no_such("customer", customer, "customer")
    return_url = url_param(data.get("return_url"), "return_url", required=False)
    return answer(PortalSession(request.app[BASE_URL], customer, return_url), expand)


def account_args(data):
    check_params(data, ACCOUNT_PARAMS)
    account_type = data.get("type")
    if account_type is None:
        raise missing_param("type")
    if account_type not in ACCOUNT_TYPES:
        raise error("Invalid type: must be one of custom, express, or standard", "type")
    country = data.get("country", "US")
    if not re.match(r"^[a-zA-Z]{2}$", country):
        raise error(f"Invalid country: {country}", "country")
    capabilities = data.get("capabilities", {})
    return {
        "type": account_type,
        "email": email_param(data.get("email"), "email"),
        "country": country.upper(),
        "capabilities": [
            name for name, wish in capabilities.items()
            if resources.try_convert_to_bool(wish.get("requested")) is True
        ],
        "metadata": map_param(data.get("metadata")),
    }


async def create_account(request):
    data = await form(request)
    args = account_args(data)
    expand = expand_param(data)
    return answer(Account(**args), expand)


async def retrieve_account(request):
    return answer(find_account(request.match_info["id"], "id"), query(request))


async def create_account_link(request):
    data = await form(request)
    check_params(data, ACCOUNT_LINK_PARAMS)
    for name in ("account", "type"):
        if data.get(name) is None:
            raise missing_param(name)
    account = find_account(data["account"], "account")
    if data["type"] != "account_onboarding":
        raise error("Invalid type: must be account_onboarding", "type")
    url_param(data.get("refresh_url"), "refresh_url")
    url_param(data.get("return_url"), "return_url")
    created = int(time.time())
    return server.json_response({
        "object": "account_link",
        "created": created,
        "expires_at": created + ACCOUNT_LINK_LIFETIME,
        "url": f"{request.app[BASE_URL]}/onboard/{account.id}",
    })


async def onboard(request):
    account = find_account(request.match_info["id"], "id")
    onboard_account(account)
    return answer(account)


def page(title, obj, fields):
    rows = "".join(
        f"<tr><th>{html.escape(f)}</th><td>{html.escape(str(getattr(obj, f)))}</td></tr>"
        for f in fields
    )
    title = html.escape(title)
    text = f"<!doctype html><title>{title}</title><h1>{title}</h1><table>{rows}</table>"
    return web.Response(text=text, content_type="text/html")


async def pay_page(request):
    session = find_session(request.match_info["id"])
    return page("Checkout", session, ("id", "mode", "status", "amount_total", "currency"))


async def portal_page(request):
    session = stored(PortalSession.object, request.match_info["id"])
    if session is None:
        raise no_such(PortalSession.object, request.match_info["id"], "id")
    return page("Billing portal", session, ("id", "customer", "return_url"))


async def onboard_page(request):
    account = find_account(request.match_info["id"], "id")
    return page("Account onboarding", account, ("id", "type", "details_submitted"))


ROUTES = (
    ("POST", "/v1/checkout/sessions", create_checkout_session),
    ("GET", "/v1/checkout/sessions/{id}", retrieve_checkout_session),
    ("POST", "/v1/checkout/sessions/{id}/expire", expire_checkout_session),
    ("POST", "/_test/checkout/sessions/{id}/complete", complete_checkout_session),
    ("POST", "/_test/checkout/sessions/{id}/async_succeeded", async_succeeded),
    ("POST", "/_test/checkout/sessions/{id}/async_failed", async_failed),
    ("POST", "/_test/checkout/sessions/{id}/expire", expire_checkout_session),
    ("POST", "/v1/billing_portal/sessions", create_portal_session),
    ("POST", "/v1/accounts", create_account),
    ("GET", "/v1/accounts/{id}", retrieve_account),
    ("POST", "/v1/account_links", create_account_link),
    ("POST", "/_test/accounts/{id}/onboard", onboard),
    ("GET", "/pay/{id}", pay_page),
    ("GET", "/portal/{id}", portal_page),
    ("GET", "/onboard/{id}", onboard_page),
)


def open_paths(auth_middleware):
    """Wraps localstripe's key check so test routes and pages need no key."""

    @web.middleware
    async def middleware(request, handler):
        if request.path.startswith(OPEN_PATH_PREFIXES):
            return await handler(request)
        return await auth_middleware(request, handler)

    return middleware


def check_subscription_update(data):
    """Rejects what localstripe's update would crash on (unknown parameters)."""
    known = set(inspect.signature(resources.Subscription._update).parameters) - {"self"}
    check_params(data, dict.fromkeys(known | {"expand"}, ANY))


def update_metadata(obj, metadata):
    if metadata == "":
        obj.metadata = {}
    for key, value in map_param(metadata).items():
        if value == "":
            obj.metadata.pop(key, None)
        else:
            obj.metadata[key] = value


def update_cancellation(subscription, data):
    if "cancel_at_period_end" not in data:
        return
    if subscription.cancel_at_period_end:
        subscription.cancel_at = subscription.current_period_end
        subscription.canceled_at = int(time.time())
    else:
        subscription.cancel_at = None
        subscription.canceled_at = None


async def subscription_updated(request, handler, id):
    """Adds what Stripe does on update and localstripe skips: metadata, cancel dates, event."""
    subscription = stored("subscription", id)
    if subscription is None:
        return await handler(request)
    data = await form(request)
    check_subscription_update(data)
    before = subscription._export()
    await handler(request)
    update_metadata(subscription, data.get("metadata"))
    update_cancellation(subscription, data)
    emit_updated("customer.subscription.updated", subscription, before)
    return answer(subscription, expand_param(data))


def refunded_charge(data):
    intent_id, charge_id = data.get("payment_intent"), data.get("charge")
    if intent_id is None and charge_id is None:
        raise error(
            "One of the following params should be provided for this request: "
            "payment_intent or charge."
        )
    if intent_id is None:
        charge = stored("charge", charge_id)
        if charge is None:
            raise no_such("charge", charge_id, "charge")
        return charge
    intent = stored("payment_intent", intent_id)
    if intent is None:
        raise no_such("payment_intent", intent_id, "payment_intent")
    if intent.latest_charge is None:
        raise error(
            f"PaymentIntent {intent_id} does not have a successful charge to refund.",
            "payment_intent",
        )
    return intent.latest_charge


def refund_amount(data, charge):
    remaining = charge.amount - charge.amount_refunded
    if remaining <= 0:
        raise error(
            f"Charge {charge.id} has already been refunded.", code="charge_already_refunded"
        )
    if data.get("amount") is None:
        return remaining
    amount = int_param(data["amount"], "amount", minimum=1)
    if amount > remaining:
        raise error(
            f"Refund amount ({amount}) is greater than unrefunded amount on charge ({remaining}).",
            "amount",
        )
    return amount


REFUND_REASONS = ("duplicate", "fraudulent", "requested_by_customer")


def refund_reason(data):
    reason = data.pop("reason", None)
    if reason is not None and reason not in REFUND_REASONS:
        raise error(
            f"Invalid reason: must be one of {', '.join(REFUND_REASONS)}", "reason"
        )
    return reason


async def create_refund(request):
    """Refunds at most what is left on the charge, then sends `charge.refunded`."""
    data = await form(request)
    expand = expand_param(data)
    reason = refund_reason(data)
    charge = refunded_charge(data)
    data["amount"] = refund_amount(data, charge)
    before = charge._export()
    refund = resources.Refund(**data)
    refund.reason = reason
    emit_updated("charge.refunded", charge, before)
    return answer(refund, expand)


@web.middleware
async def stripe_events_middleware(request, handler):
    """Sends the events real Stripe sends and localstripe does not."""
    if request.method == "POST":
        match = SUBSCRIPTION_UPDATE_PATH.match(request.path)
        if match:
            return await subscription_updated(request, handler, match["id"])
        if request.path == "/v1/refunds":
            return await create_refund(request)
    return await handler(request)


def keep_store_in_memory():
    resources.Store.dump_to_disk = lambda self: None
    resources.Store.try_load_from_disk = lambda self: None


def build_app(base_url):
    app = server.app
    index = app.middlewares.index(server.auth_middleware)
    app.middlewares[index] = open_paths(server.auth_middleware)
    app.middlewares.append(stripe_events_middleware)
    for method, path, handler in ROUTES:
        app.router.add_route(method, path, handler)
    app[BASE_URL] = base_url
    return app


def bind(port):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", port))
    return sock


async def serve(port):
    sock = bind(port)
    base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    runner = web.AppRunner(build_app(base_url), access_log=None)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    print(f"listening on {base_url}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def parse_args():
    parser = argparse.ArgumentParser(
        description="localstripe with Checkout, Billing Portal and Connect"
    )
    parser.add_argument(
        "--port", type=int, default=0, help="port on 127.0.0.1 (0 picks a free one)"
    )
    return parser.parse_args()


def main():
    args = parse_args()
    keep_store_in_memory()
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="%(name)s: %(message)s")
    logging.getLogger("aiohttp.access").setLevel(logging.INFO)
    try:
        asyncio.run(serve(args.port))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()

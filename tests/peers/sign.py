"""Signs webhook requests with the providers' official SDKs.

Reads one JSON request on stdin and prints the headers to send as JSON:
  {"scheme": "stripe", "secret": ..., "payload": ..., "timestamp": ...}
  {"scheme": "standardwebhooks", "secret": ..., "payload": ..., "msg_id": ..., "timestamp": ...}
  {"scheme": "twilio", "auth_token": ..., "url": ..., "params": {...}}
  {"scheme": "twilio_json", "auth_token": ..., "url": ..., "payload": ...}
"""
import datetime
import json
import sys


def main():
    req = json.load(sys.stdin)
    scheme = req["scheme"]
    if scheme == "stripe":
        import stripe

        header = stripe.WebhookSignature.generate_signature_header(
            req["payload"], req["secret"], timestamp=int(req["timestamp"])
        )
        print(json.dumps({"stripe-signature": header}))
    elif scheme == "standardwebhooks":
        from standardwebhooks.webhooks import Webhook

        ts = datetime.datetime.fromtimestamp(int(req["timestamp"]), tz=datetime.timezone.utc)
        sig = Webhook(req["secret"]).sign(req["msg_id"], ts, req["payload"])
        print(json.dumps({"webhook-id": req["msg_id"], "webhook-timestamp": str(int(req["timestamp"])), "webhook-signature": sig}))
    elif scheme == "twilio":
        from twilio.request_validator import RequestValidator

        sig = RequestValidator(req["auth_token"]).compute_signature(req["url"], req["params"])
        print(json.dumps({"x-twilio-signature": sig}))
    elif scheme == "twilio_json":
        from twilio.request_validator import RequestValidator

        validator = RequestValidator(req["auth_token"])
        body_hash = validator.compute_hash(req["payload"])
        url = req["url"] + ("&" if "?" in req["url"] else "?") + "bodySHA256=" + body_hash
        sig = validator.compute_signature(url, {})
        print(json.dumps({"x-twilio-signature": sig, "url": url}))
    else:
        raise SystemExit(f"unknown scheme {scheme}")


if __name__ == "__main__":
    main()

"""Verifies Standard Webhooks deliveries with the official `standardwebhooks` library.

Reads a JSON list on stdin: [{"secret": ..., "headers": {...}, "payload": ...}, ...]
and prints a JSON list with, for each, true when the library accepts it, else the
library's error message.
"""
import json
import sys

from standardwebhooks.webhooks import Webhook


def main():
    out = []
    for item in json.load(sys.stdin):
        try:
            Webhook(item["secret"]).verify(item["payload"], item["headers"])
            out.append(True)
        except Exception as e:  # the library raises its own WebhookVerificationError
            out.append(str(e) or type(e).__name__)
    print(json.dumps(out))


if __name__ == "__main__":
    main()

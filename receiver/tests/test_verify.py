"""hookpost_receiver.Webhook against public Standard Webhooks vectors and its own signer.

Standard library only (unittest), so it runs in a virtual environment holding nothing else.
"""

import importlib.util
import unittest

from hookpost_receiver import (
    Ed25519Unavailable,
    InvalidPayload,
    InvalidTimestamp,
    MissingHeaders,
    NoMatchingSignature,
    SecretError,
    TimestampTooNew,
    TimestampTooOld,
    Webhook,
    WebhookVerificationError,
)

# Vectors from the Standard Webhooks reference libraries' tests.
S1 = {
    "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
    "timestamp": "1614265330",
    "body": b'{"test": 2432232314}',
    "signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
}
A1_PUBLIC = "whpk_1SiA4o9hyqTCpIqC5V9HUakiiaeACeqfZTInDBbOir4="
A1_PRIVATE = (
    "whsk_6Xb/dCcHpPea21PS1N9VY/NZW723CEc77N4rJCubMbfVKIDij2HKpMKkioLlX0dRqSKJp4AJ6p9lMicMFs6Kvg=="
)
A1_SIGNATURE = (
    "v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg=="
)
SECRET = "whsec_" + "AAECAwQFBgcICQoLDA0ODxAREhMUFRYX"
OTHER = "whsec_" + "MjM0NTY3ODk6Ozw9Pj9AQUJDREVGR0hJ"
TS = 1_700_000_000
BODY = b'{"type": "invoice.paid",  "data": {"amount": 12}}'
HAS_CRYPTOGRAPHY = importlib.util.find_spec("cryptography") is not None


def s1_headers(prefix: str = "webhook-", signature: str = S1["signature"]) -> dict[str, str]:
    return {
        prefix + "id": str(S1["id"]),
        prefix + "timestamp": str(S1["timestamp"]),
        prefix + "signature": signature,
    }


def at(now: float, secret: str | list[str] = SECRET, **kwargs: int) -> Webhook:
    return Webhook(secret, clock=lambda: now, **kwargs)


class VerifyTest(unittest.TestCase):
    def test_reference_vector_both_header_sets(self) -> None:
        verifier = at(1614265330, str(S1["secret"]))
        for prefix in ("webhook-", "svix-"):
            self.assertEqual(verifier.verify(S1["body"], s1_headers(prefix)), {"test": 2432232314})

    def test_header_names_are_case_insensitive(self) -> None:
        mixed = {name.upper(): value for name, value in s1_headers().items()}
        self.assertEqual(
            at(1614265330, str(S1["secret"])).verify(S1["body"], mixed)["test"], 2432232314
        )

    def test_one_flipped_character_fails(self) -> None:
        bad = s1_headers(signature="v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA=")
        with self.assertRaises(NoMatchingSignature):
            at(1614265330, str(S1["secret"])).verify(S1["body"], bad)

    def test_several_signatures_any_one_matches(self) -> None:
        entries = f"v1,bm90IGEgc2lnbmF0dXJl v2,whatever garbage {S1['signature']}"
        verifier = at(1614265330, str(S1["secret"]))
        self.assertEqual(
            verifier.verify(S1["body"], s1_headers(signature=entries))["test"], 2432232314
        )

    def test_several_secrets_for_rotation(self) -> None:
        for signed_with in ([SECRET], [OTHER], [SECRET, OTHER]):
            headers = Webhook(signed_with).headers("msg_1", TS, BODY)
            self.assertEqual(at(TS, [OTHER, SECRET]).verify(BODY, headers)["data"], {"amount": 12})
        with self.assertRaises(NoMatchingSignature):
            at(TS, SECRET).verify(BODY, Webhook(OTHER).headers("msg_1", TS, BODY))

    def test_timestamp_tolerance(self) -> None:
        headers = Webhook(SECRET).headers("msg_1", TS, BODY)
        at(TS + 300.99).verify(BODY, headers)
        at(TS - 300).verify(BODY, headers)
        with self.assertRaises(TimestampTooOld):
            at(TS + 301).verify(BODY, headers)
        with self.assertRaises(TimestampTooNew):
            at(TS - 301).verify(BODY, headers)
        at(TS + 301, tolerance=400).verify(BODY, headers)

    def test_invalid_timestamps(self) -> None:
        for text in ("", "-1", "1.5", " 17", "１７", "9" * 40):
            headers = Webhook(SECRET).headers("msg_1", TS, BODY) | {"webhook-timestamp": text}
            headers.pop("svix-timestamp")
            with self.assertRaises((InvalidTimestamp, MissingHeaders), msg=text):
                at(TS).verify(BODY, headers)

    def test_missing_headers_name_what_is_missing(self) -> None:
        headers = Webhook(SECRET).headers("msg_1", TS, BODY)
        only_standard = {k: v for k, v in headers.items() if k.startswith("webhook-")}
        del only_standard["webhook-signature"]
        with self.assertRaisesRegex(MissingHeaders, "webhook-signature"):
            at(TS).verify(BODY, only_standard)

    def test_signed_body_that_is_not_json(self) -> None:
        for body in (b"not json", b"\xff", b"[" * 100_000):
            with self.assertRaises(InvalidPayload):
                at(TS).verify(body, Webhook(SECRET).headers("msg_1", TS, body))

    def test_every_error_is_a_verification_error(self) -> None:
        for error in (MissingHeaders, InvalidTimestamp, TimestampTooOld, TimestampTooNew,
                      NoMatchingSignature, InvalidPayload):  # fmt: skip
            self.assertTrue(issubclass(error, WebhookVerificationError))
        self.assertTrue(issubclass(SecretError, ValueError))

    def test_bad_secrets_fail_at_construction(self) -> None:
        for secret in ("", "whsec_", "whsec_!!", [], "whpk_AAAA"):
            with self.assertRaises((SecretError, Ed25519Unavailable), msg=repr(secret)):
                Webhook(secret)

    def test_public_key_cannot_sign(self) -> None:
        if not HAS_CRYPTOGRAPHY:
            self.skipTest("cryptography not installed")
        with self.assertRaises(SecretError):
            Webhook(A1_PUBLIC).sign("msg_1", TS, BODY)


class Ed25519Test(unittest.TestCase):
    def test_v1a_reference_vector_or_clear_error(self) -> None:
        headers = {
            "webhook-id": str(S1["id"]),
            "webhook-timestamp": "1614265330",
            "webhook-signature": A1_SIGNATURE,
        }
        if not HAS_CRYPTOGRAPHY:
            with self.assertRaisesRegex(Ed25519Unavailable, r"hookpost-receiver\[ed25519\]"):
                Webhook(A1_PUBLIC)
            # v1 needs nothing beyond the standard library.
            self.assertEqual(
                at(TS).verify(BODY, Webhook(SECRET).headers("m", TS, BODY))["type"], "invoice.paid"
            )
            return
        verifier = at(1614265330, A1_PUBLIC)
        self.assertEqual(verifier.verify(S1["body"], headers), {"test": 2432232314})
        self.assertEqual(
            Webhook(A1_PRIVATE).sign(str(S1["id"]), 1614265330, S1["body"]), A1_SIGNATURE
        )
        with self.assertRaises(NoMatchingSignature):
            verifier.verify(b'{"test": 1}', headers)


if __name__ == "__main__":
    unittest.main()

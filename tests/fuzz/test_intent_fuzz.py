"""The intent readers under fuzzing: Segscope intent YAML and Kubernetes NetworkPolicy documents
of any shape give an intent or the documented error (IntentError naming the file and the field,
InventoryError naming the line of a syntax error); never another exception."""

from __future__ import annotations

import json

import yaml
from hypothesis import example, given
from hypothesis import strategies as st

from collectors.intent import IntentError
from collectors.inventory import InventoryError
from collectors.netpol import parse_network_policies
from collectors.policies import AnyIntent, read_intent_document
from tests.fuzz.documents import FUZZ, NOISE, damaged, json_values, mutated_json, texts

FILENAME = "intent.yaml"
INTENTS = texts("fixtures/demo/intent/*.yaml")
POLICIES = texts("tests/collectors/data/netpol/*")
INTENT_DOCUMENTS = [yaml.safe_load(text) for text in INTENTS]
DOCUMENTS = [doc for text in INTENTS + POLICIES for doc in yaml.safe_load_all(text)]
KEYS = ["segments", "allow", "default", "published_at", "from", "to", "ports", "app", "env",
        "apiVersion", "kind", "metadata", "name", "namespace", "spec", "podSelector",
        "namespaceSelector", "ipBlock", "cidr", "except", "policyTypes", "ingress", "egress",
        "matchLabels", "matchExpressions", "key", "operator", "values", "port", "endPort",
        "protocol", "items"]
SCALARS: list[object] = [
    "payments", "ledger", "cidr:10.0.0.0/8", "cidr:10.0.0.0/33", "tcp/443", "udp/1-1024",
    "tcp/9-1", "icmp", "sctp/", "deny", "allow", "2026-11-26T04:59:33Z", "2026-11-26",
    "networking.k8s.io/v1", "NetworkPolicy", "NetworkPolicyList", "List", "Ingress", "Egress",
    "In", "NotIn", "Exists", "DoesNotExist", "TCP", "UDP", "SCTP", "http", "10.0.0.0/8",
    "2001:db8::/64", "192.0.2.1", 80, 65536, 0, -1,
]
VALUES = json_values(KEYS, SCALARS)
# Segscope intents built from their own fields, so that most reach past the top-level check.
ALLOWS = st.lists(st.dictionaries(st.sampled_from(["from", "to", "ports"]), VALUES
                                  | st.lists(st.sampled_from(SCALARS), max_size=3)), max_size=3)
SEGSCOPE_INTENTS = st.dictionaries(
    st.sampled_from(["segments", "allow", "default", "published_at"]),
    VALUES | ALLOWS | st.dictionaries(st.sampled_from(["payments", "ledger"]), VALUES))


def check(text: str) -> AnyIntent | None:
    try:
        intent = read_intent_document(text, FILENAME, "v1")
    except (IntentError, InventoryError) as exc:
        assert exc.filename == FILENAME and exc.reason
        assert str(exc).startswith(f"{FILENAME}: ")
        return None
    intent.to_dict()
    return intent


@FUZZ
@given(text=st.text())
def test_it_never_raises_on_random_text(text: str) -> None:
    check(text)


@FUZZ
@given(doc=VALUES, as_json=st.booleans())
def test_it_never_raises_on_random_documents_of_intent_and_policy_keys(doc: object,
                                                                       as_json: bool) -> None:
    check(json.dumps(doc, default=str) if as_json else yaml.safe_dump(doc))


@FUZZ
@given(doc=SEGSCOPE_INTENTS, as_json=st.booleans())
# An `allow` or `ports` that is a number was iterated: TypeError.
@example(doc={"allow": 5}, as_json=False)
@example(doc={"segments": {"a": {"app": "a"}}, "allow": [{"from": "a", "to": "a", "ports": 5}]},
         as_json=False)
def test_it_never_raises_on_intents_built_from_their_fields(doc: object, as_json: bool) -> None:
    check(json.dumps(doc, default=str) if as_json else yaml.safe_dump(doc))


@FUZZ
@given(doc=mutated_json(DOCUMENTS, VALUES) | mutated_json(INTENT_DOCUMENTS, VALUES),
       as_json=st.booleans())
def test_it_never_raises_on_real_intents_and_policies_with_values_changed(
        doc: object, as_json: bool) -> None:
    check(json.dumps(doc, default=str) if as_json else yaml.safe_dump(doc))


@FUZZ
@given(text=damaged(INTENTS + POLICIES, NOISE | st.sampled_from([str(s) for s in SCALARS])))
def test_it_never_raises_on_damaged_real_intents_and_policies(text: str) -> None:
    check(text)


@FUZZ
@given(data=st.binary() | damaged(POLICIES, NOISE).map(str.encode))
def test_the_network_policy_reader_never_raises_on_bytes(data: bytes) -> None:
    try:
        parse_network_policies(data, FILENAME)
    except IntentError as exc:
        assert exc.filename == FILENAME and exc.reason

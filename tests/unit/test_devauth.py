from aether_local.devauth import DevAuth


def test_signed_token_verifies_to_api_gateway_style_claims():
    auth = DevAuth()
    claims = auth.verify("Bearer " + auth.sign("alice", groups=["aether-admins", "x"]))
    assert claims["sub"] == "alice"
    assert claims["cognito:groups"] == "[aether-admins x]"


def test_foreign_tampered_or_expired_tokens_are_refused():
    auth = DevAuth()
    token = auth.sign("alice")
    assert DevAuth().verify("Bearer " + token) is None
    header, payload, signature = token.split(".")
    assert auth.verify(f"Bearer {header}.{payload}x.{signature}") is None
    assert auth.verify("Bearer " + auth.sign("alice", ttl_s=-1)) is None
    assert auth.verify(token) is None  # no "Bearer " prefix
    assert auth.verify(None) is None

from aether.http.auth import principal_from_claims


def test_no_sub_means_no_principal():
    assert principal_from_claims({}) is None
    assert principal_from_claims({"email": "a@b.c"}) is None


def test_admin_from_flattened_group_claim():
    principal = principal_from_claims({"sub": "u1", "cognito:groups": "[readers aether-admins]"})
    assert principal is not None and principal.is_admin and principal.user_id == "u1"


def test_admin_from_scope_claim():
    assert principal_from_claims({"sub": "u1", "scope": "openid aether/admin"}).is_admin


def test_plain_user_is_not_admin():
    assert not principal_from_claims({"sub": "u1", "cognito:groups": "[readers]", "scope": "openid"}).is_admin

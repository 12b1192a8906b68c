"""Routes and functions read from the SAM template, as API Gateway would see them."""

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = ["FunctionSpec", "Route", "StreamApiSpec", "read_stream_api", "read_template"]


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    name: str  # folder name under functions/, e.g. "chat"
    code_dir: Path
    handler: str
    timeout_s: int
    memory_mb: int


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    function: FunctionSpec
    authorized: bool
    lambda_authorizer: FunctionSpec | None = None  # an HTTP API route's Lambda (REQUEST) authorizer

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.path}"

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if method != self.method:
            return None
        pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(self.path))
        pattern = re.sub(r"\\\{(\w+)\\\+\\\}", r"(?P<\1>.+)", pattern)  # {name+}: greedy, as API Gateway's
        found = re.match(f"^{pattern}$", path)
        return found.groupdict() if found else None


class _CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation short tags (!Ref, !Sub, ...) as plain values."""


def _any_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    assert isinstance(node, yaml.MappingNode)
    return loader.construct_mapping(node)


_CfnLoader.add_multi_constructor("!", _any_tag)


@dataclass(frozen=True, slots=True)
class StreamApiSpec:
    """The REST API that streams a function's responses, behind a Lambda token authorizer."""

    routes: list[Route]  # each one's function is the streamed integration's
    authorizer: FunctionSpec
    token_pattern: str  # the authorizer's identityValidationExpression
    cache_ttl_s: int  # how long API Gateway keeps the authorizer's answer for a token


def _load(path: Path) -> dict[str, Any]:
    template: dict[str, Any] = yaml.load(path.read_text(), Loader=_CfnLoader)
    return template


def _functions(path: Path) -> dict[str, tuple[FunctionSpec, dict[str, Any]]]:
    """Each function of the template, by logical id, with its properties."""
    template = _load(path)
    globals_ = template.get("Globals", {}).get("Function", {})
    functions = {}
    for logical_id, resource in template["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        props = resource["Properties"]
        code_dir = (path.parent / props["CodeUri"]).resolve()
        spec = FunctionSpec(
            name=code_dir.name,
            code_dir=code_dir,
            handler=props.get("Handler", globals_.get("Handler", "app.handler")),
            timeout_s=int(props.get("Timeout", globals_.get("Timeout", 3))),
            memory_mb=int(props.get("MemorySize", globals_.get("MemorySize", 128))),
        )
        functions[logical_id] = (spec, props)
    return functions


def _arn_of(uri: str) -> str:
    """The logical id of the function in an integration or authorizer URI: `${Name.Arn}`."""
    found = re.search(r"\$\{(\w+)\.Arn\}", uri)
    assert found, f"no function ARN in {uri!r}"
    return found.group(1)


def read_stream_api(path: Path) -> StreamApiSpec | None:
    """The template's REST API (its OpenAPI body), if it has one."""
    apis = [r for r in _load(path)["Resources"].values() if r.get("Type") == "AWS::Serverless::Api"]
    if not apis:
        return None
    body = apis[0]["Properties"]["DefinitionBody"]
    functions = _functions(path)
    (scheme_name, scheme), *_ = body["components"]["securitySchemes"].items()
    authorizer = scheme["x-amazon-apigateway-authorizer"]
    assert authorizer["type"] == "token", "the local runner knows token authorizers only"
    routes = []
    for route_path, methods in body["paths"].items():
        for method, operation in methods.items():
            target = operation["x-amazon-apigateway-integration"]
            assert target["responseTransferMode"] == "STREAM" and target["type"] == "aws_proxy"
            secured = any(scheme_name in entry for entry in operation.get("security", []))
            spec = functions[_arn_of(target["uri"])][0]
            routes.append(Route(method=method.upper(), path=route_path, function=spec, authorized=secured))
    return StreamApiSpec(
        routes=routes,
        authorizer=functions[_arn_of(authorizer["authorizerUri"])][0],
        token_pattern=authorizer.get("identityValidationExpression", ".*"),
        cache_ttl_s=int(authorizer.get("authorizerResultTtlInSeconds", 300)),
    )


def _lambda_authorizers(path: Path) -> dict[str, FunctionSpec]:
    """The HTTP APIs' Lambda authorizers by name (`FunctionArn: !GetAtt Name.Arn`)."""
    functions = _functions(path)
    found = {}
    for resource in _load(path)["Resources"].values():
        if resource.get("Type") != "AWS::Serverless::HttpApi":
            continue
        for name, authorizer in resource["Properties"].get("Auth", {}).get("Authorizers", {}).items():
            if "FunctionArn" in authorizer:
                found[name] = functions[str(authorizer["FunctionArn"]).removesuffix(".Arn")][0]
    return found


def read_template(path: Path) -> list[Route]:
    routes: list[Route] = []
    lambda_authorizers = _lambda_authorizers(path)
    for spec, props in _functions(path).values():
        for event in props.get("Events", {}).values():
            if event.get("Type") != "HttpApi":
                continue
            event_props = event["Properties"]
            auth = event_props.get("Auth", {}).get("Authorizer")
            routes.append(
                Route(
                    method=event_props["Method"].upper(),
                    path=event_props["Path"],
                    function=spec,
                    authorized=auth != "NONE",
                    lambda_authorizer=lambda_authorizers.get(auth or ""),
                )
            )
    return routes

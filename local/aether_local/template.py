"""Routes and functions read from the SAM template, as API Gateway would see them."""

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = ["FunctionSpec", "Route", "read_function_urls", "read_template"]


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


def _functions(path: Path) -> list[tuple[FunctionSpec, dict[str, Any]]]:
    """Each function of the template with its properties."""
    template = yaml.load(path.read_text(), Loader=_CfnLoader)
    globals_ = template.get("Globals", {}).get("Function", {})
    functions = []
    for resource in template["Resources"].values():
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
        functions.append((spec, props))
    return functions


def read_function_urls(path: Path) -> list[FunctionSpec]:
    """The functions served through a Lambda function URL (their handler is a web app's start script)."""
    return [spec for spec, props in _functions(path) if "FunctionUrlConfig" in props]


def read_template(path: Path) -> list[Route]:
    routes: list[Route] = []
    for spec, props in _functions(path):
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
                )
            )
    return routes

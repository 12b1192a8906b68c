"""aether-local: run Aether's Lambda functions on this machine, as API Gateway and Lambda would."""

import argparse
import json
import os
import signal
import sys
from pathlib import Path

__all__ = ["main"]


def _serve(args: argparse.Namespace) -> None:
    import threading

    from aether_local.devauth import DEV_AUDIENCE, DevAuth
    from aether_local.processes import free_port
    from aether_local.server import JWKS_PATH, LocalApi
    from aether_local.stack import LocalStack
    from aether_local.stream_api import AdapterApp, LocalStreamApi
    from aether_local.template import read_stream_api

    stack = LocalStack(Path(args.data_dir)).start()
    auth = DevAuth(issuer=f"http://{args.host}:{args.port}")
    stream_api: LocalStreamApi | None = None
    try:
        # The Lambda authorizer, and the streamed app behind the stream API (its second lock), check
        # the dev tokens against the runner's JWKS, as they check the identity provider's on AWS.
        token_settings = {
            "JWT_ISSUER": auth.issuer,
            "JWT_AUDIENCE": DEV_AUDIENCE,
            "JWT_JWKS_URL": f"http://{args.host}:{args.port}{JWKS_PATH}",
        }
        api = LocalApi(Path(args.template), auth, args.host, args.port, args.environments, token_settings)
        spec = read_stream_api(Path(args.template))
        if spec is not None:
            app = AdapterApp(spec.routes[0].function, free_port(), token_settings)
            stream_api = LocalStreamApi(
                spec, app, token_settings, args.host, args.stream_port or args.port + 1
            )
            app.wait_ready()
    except BaseException:
        if stream_api is not None:
            stream_api.close()
        stack.stop()
        raise
    for note in stack.notes:
        print(note)
    print(f"Routes: {len(api.routes)} from {args.template}")
    if stream_api is not None:
        threading.Thread(target=stream_api.serve_forever, daemon=True).start()
        print(f"Stream API ({len(stream_api.spec.routes)} routes, streamed): {stream_api.url}")
        print(f"Stream API's app (where the Lambda Web Adapter forwards): {stream_api.app.url}")
    print(f"Dev token (user):  {auth.sign('local-user')}")
    admin_group = os.environ.get("ADMIN_GROUP", "aether-admins")
    admin_token = auth.sign("local-admin", groups=[admin_group])
    print(f"Dev token (admin): {admin_token}")
    # A sign-in link: the page swaps the token for a session cookie and drops it from the address.
    page = f"{api.url}/api/ai/v4/performance/dashboard?format=html"
    print(f"Dashboard (open in a browser): {page}&access_token={admin_token}")
    for number in range(1, args.dev_users + 1):  # one identity each, e.g. for a load test
        print(f"Dev token (user-{number}): {auth.sign(f'local-user-{number}')}")
    print("These tokens are signed by this process only and are not accepted by deployed functions.")
    print(f"Listening on {api.url}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stop what was started on TERM too
    try:
        api.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        api.close()
        if stream_api is not None:
            stream_api.close()
        stack.stop()


def _invoke(args: argparse.Namespace) -> None:
    from aether_local.lambda_host import FunctionHost
    from aether_local.stack import LocalStack
    from aether_local.template import read_template

    specs = {route.function.name: route.function for route in read_template(Path(args.template))}
    if args.function not in specs:
        sys.exit(f"unknown function {args.function!r}; the template has {', '.join(sorted(specs))}")
    event = json.loads(Path(args.event).read_text())
    stack = LocalStack(Path(args.data_dir)).start()
    host = FunctionHost(specs[args.function])
    try:
        response = host.invoke(event)  # the function's logs go to stderr, as with `sam local invoke`
    finally:
        host.close()
        stack.stop()
    print(json.dumps(response, indent=2))


def _indexes(args: argparse.Namespace) -> None:
    import asyncio

    from pymongo.errors import PyMongoError

    from aether import clients
    from aether.settings import get_settings
    from aether.store.indexes import IndexSpec, apply_indexes
    from aether_local.mongo_server import start_mongo

    mongo = None
    if os.environ.get("MONGO_URL"):
        print("MongoDB: MONGO_URL from the environment")
    else:
        data = Path(args.data_dir) / "mongo.sqlite"
        mongo, url = start_mongo(data)
        os.environ["MONGO_URL"] = url
        print(f"MongoDB: embedded mongoeco wire server, data in {data}")
    print(f"Database: {get_settings().mongo_db}")

    async def apply() -> list[tuple[IndexSpec, bool]]:
        try:
            return await apply_indexes(clients.mongo_db())
        finally:
            await clients.close_all()

    try:
        applied = asyncio.run(apply())
    except PyMongoError as error:
        sys.exit(f"applying the indexes failed: {error}")
    finally:
        if mongo is not None:
            mongo.terminate()
            mongo.wait(10)
    for spec, created in applied:
        keys = ", ".join(f"{name}: {order}" for name, order in spec.keys)
        print(f"{spec.collection}.{spec.name} ({keys}): {'created' if created else 'already there'}")


def _router(args: argparse.Namespace) -> None:
    from aether_local.router_training.run import evaluate_command, train_command

    if args.action == "train":
        train_command(args.mirror, args.weights)
    else:
        evaluate_command(args.mirror, args.weights)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="aether-local", description=__doc__)
    parser.add_argument("--template", default="template.yaml")
    parser.add_argument(
        "--data-dir", default=".aether-local", help="where the embedded MongoDB keeps its data"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve every HttpApi route of the template over HTTP")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=3000)
    serve.add_argument("--stream-port", type=int, default=0, help="the stream API's port (default: port + 1)")
    serve.add_argument(
        "--environments",
        type=int,
        default=4,
        metavar="N",
        help="execution environments per function at most, each serving one request at a time (default 4)",
    )
    serve.add_argument(
        "--dev-users",
        type=int,
        default=0,
        metavar="N",
        help="also print N user tokens, local-user-1 to local-user-N (one identity each)",
    )
    serve.set_defaults(run=_serve)
    invoke = commands.add_parser(
        "invoke", help="invoke one function with an event file and print its response"
    )
    invoke.add_argument("function", help="function folder name: chat, multi_agent, analytics, dashboard")
    invoke.add_argument("--event", required=True, help="API Gateway v2 event JSON file")
    invoke.set_defaults(run=_invoke)
    indexes = commands.add_parser(
        "indexes", help="create the MongoDB indexes Aether needs in MONGO_URL (or the embedded MongoDB)"
    )
    indexes.set_defaults(run=_indexes)
    router = commands.add_parser(
        "router", help="train the router's weights from its pinned sources, or evaluate them (dev extra)"
    )
    router.add_argument("action", choices=["train", "evaluate"])
    router.add_argument(
        "--mirror",
        default=os.environ.get("AETHER_ROUTER_MIRROR", ""),
        help="folder of repository snapshots (<owner>+<name>/repo); else .router-data/ or GitHub",
    )
    router.add_argument(
        "--weights",
        default="layers/common/aether/agents/router.weights",
        help="the weights file to write or read",
    )
    router.set_defaults(run=_router)
    args = parser.parse_args(argv)
    args.run(args)


if __name__ == "__main__":
    main()

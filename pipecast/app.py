"""The Starlette application: GraphQL at /graphql, health probes, lifespan."""

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import orjson
from cross_web import HTTPException
from graphql import GraphQLError, OperationDefinitionNode, OperationType, parse
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse, process_result
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult

from authz.access import Access
from authz.catalog import Grant
from authz.policies import Policies
from db.engine import asyncpg_dsn, create_engine
from db.faults import MESSAGES, database_fault
from db.migrate import current_revision, ensure_current, head_revision
from db.users import SignedIn, viewer_and_settings
from pipecast.auth import InvalidToken, TokenVerifier, bearer_token
from pipecast.logs import RequestLog, configure_logging
from pipecast.settings import Settings
from pipecast.statements import ReportStatements, count_statements
from resolvers.context import Context, Loaders
from resolvers.live import Connection, Hub, Session
from resolvers.pagination import cursor_key
from schema.requests import current, note
from schema.root import build_schema

log = logging.getLogger("pipecast")


class Viewer(NamedTuple):
    """Who a request's token names, as read when it arrived."""

    signed_in: SignedIn
    grants: dict[tuple[str, str], Grant]
    expires_at: float | None


class PipecastGraphQL(GraphQL[Context, None]):
    """Strawberry's ASGI app with Pipecast's Context; the viewer was authenticated before it runs."""

    def __init__(
        self,
        engine: AsyncEngine,
        policies: Policies,
        *,
        graphiql: bool,
        introspection: bool,
        secret: str,
        compiled: bool = True,
        allowed_origins: Sequence[str] = (),
        live: Hub | None = None,
        live_per_connection: int = 20,
    ) -> None:
        super().__init__(
            build_schema(introspection=introspection, compiled=compiled),
            graphql_ide="graphiql" if graphiql else None,
            allow_queries_via_get=True,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            allowed_origins=allowed_origins,  # other sites' pages may not open a socket with a user's cookies
            max_subscriptions_per_connection=None,  # Connection.admitted: the limit, with an error code
        )
        self.engine = engine
        self.policies = policies
        self.cursor_key = cursor_key(secret)
        self.live = live
        self.live_per_connection = live_per_connection
        # Who a token names (Authenticate.viewer), for WebSocket connections: set by create_app.
        self.signed_in: Callable[[str | None], Awaitable[Viewer]] | None = None

    async def process_result(self, request: Request, result: ExecutionResult) -> GraphQLHTTPResponse:
        """GraphQL over HTTP: a client that accepts application/graphql-response+json gets that type, and
        a request that never reached execution (syntax, validation, variables, limits) gets 400 and no
        `data` entry. Plain application/json keeps 200 with `data: null`, as older clients expect."""
        processed = process_result(result)
        if media_type(request) == GRAPHQL_RESPONSE:
            sub_response: Response = request.scope["state"]["sub_response"]
            sub_response.headers["content-type"] = GRAPHQL_RESPONSE
            if result.data is None and result.errors and all(e.path is None for e in result.errors):
                sub_response.status_code = 400
                processed.pop("data", None)
        return processed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Strawberry's HTTP refusals (a body that is not JSON, a batch, variables that are not an object)
        as JSON errors with a code and the request id, like every other refusal."""
        if scope["type"] == "websocket":
            state = scope.setdefault("state", {})
            try:
                await super().__call__(scope, receive, send)
            finally:
                connection = state.get("live")
                if connection is not None:
                    connection.ended()
            return
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope=scope, receive=receive)
        try:
            response: Response = await self.run(request)
        except HTTPException as exc:
            response = _error(request, exc.status_code, _REFUSALS.get(exc.reason, exc.reason))
        await response(scope, receive, send)

    @property
    def graphql_ide_html(self) -> str:
        """Strawberry's GraphiQL page, its scripts and styles served by this server (pipecast/static)
        rather than a CDN: the same pinned files, their integrity hashes unchanged."""
        return super().graphql_ide_html.replace(CDN, GRAPHIQL_ASSETS + "/")

    def decode_json(self, data: str | bytes) -> object:
        decoded = orjson.loads(data) if data else None
        if not isinstance(decoded, dict | list):
            raise HTTPException(400, NOT_AN_OBJECT)
        return decoded

    def encode_json(self, data: object) -> bytes:
        """orjson: fast, and it writes the JSON text the compiled read path passes through as is."""
        return orjson.dumps(data)

    def create_response(
        self, response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse], sub_response: Response
    ) -> Response:
        response = super().create_response(response_data, sub_response)
        chosen = sub_response.headers.get("content-type")
        if chosen:  # super() added sub_response's headers after its own application/json: keep one
            del response.headers["content-type"]
            response.headers["content-type"] = chosen
        return response

    async def get_context(self, request: Any, response: Any) -> Context:
        if isinstance(request, WebSocket):
            # Filled in by on_ws_connect once connection_init has brought the token; Strawberry refuses
            # any operation before that (4401).
            placeholder = object.__new__(Context)
            placeholder.connection_params = None
            placeholder.live = request  # until on_ws_connect puts the connection's live state there
            return placeholder
        request.scope["state"]["sub_response"] = response
        viewer: Viewer = request.scope["state"]["viewer"]
        return await self._context(viewer.signed_in, viewer.grants)

    async def _context(self, signed_in: SignedIn, grants: dict[tuple[str, str], Grant]) -> Context:
        viewer = signed_in.user
        loaders = Loaders(self.engine)
        loaders.settings.prime(None, signed_in.settings)
        loaders.users_by_id.prime(viewer.id, viewer)
        return Context(
            viewer=viewer,
            access=await self._access(signed_in, grants),
            policies=self.policies,
            engine=self.engine,
            loaders=loaders,
            cursor_key=self.cursor_key,
        )

    async def _access(self, signed_in: SignedIn, grants: dict[tuple[str, str], Grant]) -> Access:
        user_id = signed_in.user.id
        roles = frozenset(await self.policies.roles_of(user_id))
        return Access(user_id, grants, roles, signed_in.reach or frozenset())

    async def on_ws_connect(self, context: Context) -> None:
        """graphql-transport-ws's connection_init: its payload carries the same bearer token as HTTP
        (`{"Authorization": "Bearer <token>"}`); a missing or bad one closes the connection with 4403."""
        params = context.connection_params or {}
        authorization = next((v for k, v in params.items() if k.lower() == "authorization"), None)
        websocket = context.live
        if self.live is None or self.signed_in is None or not isinstance(authorization, str):
            raise ConnectionRejectionError
        try:
            viewer = await self.signed_in(authorization)
        except InvalidToken:
            raise ConnectionRejectionError from None
        built = await self._context(viewer.signed_in, viewer.grants)
        # Each event resolves with loaders of its own (Connection.fresh): none are kept while idle.
        access = self.live.shared(built.access)
        vars(context).update(
            vars(built), access=access, connection_params=params, loaders=Loaders(self.engine)
        )
        signed_in_again, hub = self.signed_in, self.live

        async def refresh() -> bool:
            """The viewer and their access as they are now; False when they may no longer connect."""
            try:
                now = await signed_in_again(authorization)
            except InvalidToken:
                connection.close("the viewer may no longer sign in")
                return False
            context.viewer = now.signed_in.user
            context.access = hub.shared(await self._access(now.signed_in, now.grants))
            return True

        session = Session(viewer.signed_in.user.id, refresh)
        session.generation = self.live.generation
        connection = Connection(self.live, session, websocket, per_connection=self.live_per_connection)
        context.live = connection
        websocket.scope["state"]["live"] = connection
        if viewer.expires_at is not None:
            connection.expires_at(viewer.expires_at)


class Authenticate:
    """Verifies the bearer token and loads the viewer, or answers 401 with an UNAUTHENTICATED error
    (503 with SERVICE_UNAVAILABLE or TIMEOUT when the database fails before GraphQL runs).

    The GraphiQL page itself (a browser GET asking for HTML) needs no token; every operation does.
    """

    def __init__(
        self,
        app: PipecastGraphQL,
        verifier: TokenVerifier,
        engine: AsyncEngine,
        policies: Policies,
        *,
        graphiql: bool,
    ) -> None:
        self.app, self.verifier, self.engine, self.graphiql = app, verifier, engine, graphiql
        self.policies = policies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope)
        if self.graphiql and request.method == "GET" and "text/html" in request.headers.get("accept", ""):
            await (await self.app.render_graphql_ide(request))(scope, receive, send)
            return
        refusal = _refusal(request)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        receive = _limited(receive)
        started = False

        async def tracked(message: Any) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            viewer = await self.viewer(request.headers.get("authorization"))
            scope.setdefault("state", {})["viewer"] = viewer
            note(user_id=viewer.signed_in.user.id)
            await self.app(scope, receive, tracked)
            return
        except InvalidToken as exc:
            response = _error(request, 401, str(exc), "UNAUTHENTICATED")
        except Exception as exc:
            # The database failed outside GraphQL's execution (reading the viewer or the team reach):
            # answer like a GraphQL error, with 503 so that clients and load balancers retry.
            fault = database_fault(exc)
            if fault is None or started:
                raise
            log.warning("database fault before execution: %s (%s)", fault, type(exc).__name__)
            response = _error(request, 503, MESSAGES[fault], fault)
        await response(scope, receive, send)

    async def viewer(self, authorization: str | None) -> Viewer:
        """The viewer, the company settings and (when a TEAM scope needs it) the viewer's reach, read in
        one statement; the grants come from the in-memory policies, once."""
        identity = await self.verifier.identify(bearer_token(authorization))
        grants = await self.policies.grants_for(identity.user_id) if identity.user_id is not None else None
        with_reach = grants is None or any(grant.scope == "TEAM" for grant in grants.values())
        async with self.engine.connect() as conn:
            found = await viewer_and_settings(conn, identity.user_id, identity.email, with_reach=with_reach)
        if found is None or not found.user.active:
            raise InvalidToken("the token's user does not exist or is inactive")
        grants = grants if grants is not None else await self.policies.grants_for(found.user.id)
        return Viewer(found, grants, identity.expires_at)


CDN = "https://unpkg.com/"
GRAPHIQL_ASSETS = "/graphiql"
GRAPHIQL_FILES = Path(__file__).resolve().parent / "static" / "graphiql"
NOT_AN_OBJECT = 'send one operation as a JSON object: {"query": "...", "variables": {...}}'
# Strawberry's reasons for refusing a body, in Pipecast's words.
_REFUSALS = {
    "Unable to parse request body as JSON": f"the body is not JSON: {NOT_AN_OBJECT}",
    "Batching is not enabled": f"batched operations are not supported: {NOT_AN_OBJECT}",
    "The GraphQL operation's `variables` must be an object or null, if provided.": (
        "variables must be a JSON object (or null)"
    ),
    "The GraphQL operation's `query` must be a string or null, if provided.": "query must be a string",
    "The GraphQL operation's `extensions` must be an object or null, if provided.": (
        "extensions must be a JSON object (or null)"
    ),
    "No GraphQL query found in the request": "no query: the body needs a `query` string",
}
MAX_BODY_BYTES = 1_000_000
GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON_TYPES = ("application/json", GRAPHQL_RESPONSE)


def media_type(request: Request) -> str:
    """application/graphql-response+json when the Accept header names it (with q > 0), else JSON."""
    for item in request.headers.get("accept", "").lower().split(","):
        kind, *params = (part.strip() for part in item.split(";"))
        if kind == GRAPHQL_RESPONSE and not any(p.replace(" ", "") in ("q=0", "q=0.0") for p in params):
            return GRAPHQL_RESPONSE
    return "application/json"


RETRY_AFTER_SECONDS = 1


def _error(request: Request, status: int, message: str, code: str = "BAD_USER_INPUT") -> JSONResponse:
    """An answer for a request GraphQL never ran (so no `data`): a refused shape, 401 for the token, 503
    when the database failed first. Recorded for the access log like GraphQL's own errors."""
    note(error_codes=[code])
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    if status == 503:
        headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    extensions = {"code": code, "requestId": current().get("request_id")}
    return JSONResponse(
        {"errors": [{"message": message, "extensions": extensions}]},
        status_code=status,
        headers=headers,
        media_type=media_type(request),
    )


def _refusal(request: Request) -> Response | None:
    """Requests refused before anything runs: oversized bodies and non-JSON POSTs (no form, multipart or
    text/plain, which browsers send cross-site without a preflight)."""
    if request.method == "POST":
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind not in JSON_TYPES:
            return _error(request, 415, "send the operation as JSON: Content-Type: application/json")
        length = request.headers.get("content-length")
        if length and length.isdecimal() and int(length) > MAX_BODY_BYTES:
            return _error(request, 413, f"the request body is over the limit of {MAX_BODY_BYTES:,} bytes")
    elif request.method == "GET" and _is_mutation(
        request.query_params.get("query"), request.query_params.get("operationName")
    ):
        return _error(request, 405, "mutations need POST")
    return None


def _is_mutation(document: str | None, operation_name: str | None) -> bool:
    if not document:
        return False
    try:
        parsed = parse(document)
    except GraphQLError:
        return False  # GraphQL answers the syntax error itself
    operations = [d for d in parsed.definitions if isinstance(d, OperationDefinitionNode)]
    chosen = [o for o in operations if operation_name is None or (o.name and o.name.value == operation_name)]
    return any(o.operation == OperationType.MUTATION for o in chosen)


class BodyTooLarge(Exception):
    """A chunked body that grew past MAX_BODY_BYTES."""


def _limited(receive: Receive) -> Receive:
    seen = 0

    async def limited() -> Any:
        nonlocal seen
        message = await receive()
        seen += len(message.get("body", b""))
        if seen > MAX_BODY_BYTES:
            raise BodyTooLarge
        return message

    return limited


class Pipecast(Starlette):
    """The app. A WebSocket to /graphql goes straight to the subscriptions' view: none of the HTTP
    middleware applies to it, and each layer would be a frame held for the life of every connection."""

    def __init__(self, subscriptions: PipecastGraphQL, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.subscriptions = subscriptions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope["path"] == "/graphql":
            scope["app"] = self
            await self.subscriptions(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_app(settings: Settings) -> Starlette:
    """The app for resolved settings (a concrete database URL and secret; see Settings.resolved)."""
    if settings.database_url is None or settings.jwt_secret is None:
        raise ValueError("create_app needs resolved settings: call Settings().resolved() first")
    engine = create_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        statement_timeout=settings.statement_timeout,
    )
    policies = Policies(engine, settings.database_url)
    hub = Hub(
        engine,
        policies,
        asyncpg_dsn(settings.database_url),
        per_user=settings.live_per_user,
        waiting=settings.live_waiting,
    )
    graphql = PipecastGraphQL(
        engine,
        policies,
        graphiql=settings.graphiql_enabled,
        introspection=settings.introspection_enabled,
        secret=settings.jwt_secret,
        compiled=settings.compiled_reads,
    )
    # WebSockets carry only subscriptions (OverTheRightTransport): their view's schema has no compiled
    # read path, one extension fewer held open by each of thousands of subscriptions.
    subscriptions = PipecastGraphQL(
        engine,
        policies,
        graphiql=False,
        introspection=settings.introspection_enabled,
        secret=settings.jwt_secret,
        compiled=False,
        allowed_origins=settings.cors_origins,
        live=hub,
        live_per_connection=settings.live_per_connection,
    )
    verifier = TokenVerifier(
        secret=settings.jwt_secret,
        public_key=settings.jwt_public_key,
        jwks_url=settings.jwks_url,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        user_claim=settings.jwt_user_claim,
    )
    authenticated = Authenticate(graphql, verifier, engine, policies, graphiql=settings.graphiql_enabled)
    subscriptions.signed_in = authenticated.viewer

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            await ensure_current(engine)
            await policies.start()
            await hub.start()
            yield
        finally:
            await hub.stop()
            await policies.stop()
            await engine.dispose()

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        try:
            current = await current_revision(engine)
        except Exception as exc:
            if database_fault(exc) is None:
                raise
            log.warning("readiness check: database unreachable (%s)", type(exc).__name__)
            return JSONResponse({"status": "unavailable", "reason": "database unreachable"}, status_code=503)
        if current != head_revision():
            return JSONResponse({"status": "unavailable", "reason": "database not migrated"}, status_code=503)
        return JSONResponse({"status": "ready", "migration": current})

    configure_logging()
    middleware = [
        Middleware(RequestLog),
        # Level 5: about 65 % of level 9's CPU for ~5 % more bytes on large JSON answers.
        Middleware(GZipMiddleware, minimum_size=1024, compresslevel=5),
    ]
    if settings.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origins,
                allow_methods=["GET", "POST"],
                allow_headers=["Authorization", "Content-Type"],
                allow_credentials=True,
                max_age=600,
            )
        )
    app = Pipecast(
        subscriptions,
        middleware=middleware,
        exception_handlers={
            BodyTooLarge: lambda request, exc: _error(
                request, 413, f"the request body is over the limit of {MAX_BODY_BYTES:,} bytes"
            )
        },
        routes=[
            Route("/graphql", authenticated, methods=["GET", "POST"]),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            *(
                [Mount(GRAPHIQL_ASSETS, StaticFiles(directory=GRAPHIQL_FILES))]
                if settings.graphiql_enabled
                else []
            ),
        ],
        lifespan=lifespan,
    )
    app.state.engine = engine
    app.state.policies = policies
    app.state.live = hub
    if settings.report_statements:
        count_statements(engine)
        app.add_middleware(ReportStatements)
    return app


def app_from_environment() -> Starlette:
    """The uvicorn factory for worker processes: settings come from the environment `serve` prepared."""
    return create_app(Settings().resolved())

-- login_role.sql: the password of the functions' login role `pipeline_functions`, for the LOCAL
-- stack only (migration 20261201000300 creates the role without a password; on a real project
-- the operator sets it once, see docs/architecture.md).
--
-- Run by scripts/stack.sh after the migrations, on every `up`. The value is read from the
-- environment with psql's \getenv (PIPELINE_DB_PASSWORD from .local/env), so it appears on no
-- command line and in no log.
\set ON_ERROR_STOP on
\set VERBOSITY terse
\getenv pipeline_password PIPELINE_DB_PASSWORD
\if :{?pipeline_password}
\else
\echo 'login_role: PIPELINE_DB_PASSWORD is not set'
\quit 3
\endif
select format('alter role pipeline_functions with login password %L', :'pipeline_password') \gexec

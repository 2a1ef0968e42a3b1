<?php

declare(strict_types=1);

namespace Cannon\Session\Tests\Support;

/** Where the tests find the extension and the backends. `make test` sets the variables. */
final class Env
{
    public const DEFAULT_REDIS_DSN = 'redis://127.0.0.1:6379/0';
    public const DEFAULT_MYSQL_DSN = 'mysql://cannon_test:cannon_test_pw@127.0.0.1:3306/test';

    public static function redisDsn(): string
    {
        return self::get('CANNON_REDIS_DSN') ?? self::DEFAULT_REDIS_DSN;
    }

    public static function mysqlDsn(): string
    {
        return self::get('CANNON_MYSQL_DSN') ?? self::DEFAULT_MYSQL_DSN;
    }

    /** Absolute path of the extension's .so, for child PHP processes. */
    public static function extPath(): string
    {
        $path = self::get('CANNON_EXT') ?? self::repoRoot() . '/target/release/libcannon_session.so';
        if (!is_file($path)) {
            throw new \RuntimeException("extension not found at $path: build it, or set CANNON_EXT");
        }
        return $path;
    }

    public static function repoRoot(): string
    {
        return dirname(__DIR__, 2);
    }

    /** @return array{host:string, port:int, db:int} */
    public static function redisParts(): array
    {
        $u = self::parse(self::redisDsn());
        return [
            'host' => $u['host'] ?? '127.0.0.1',
            'port' => (int) ($u['port'] ?? 6379),
            'db' => (int) ltrim($u['path'] ?? '/0', '/'),
        ];
    }

    /** @return array{host:string, port:int, user:string, pass:string, db:string} */
    public static function mysqlParts(): array
    {
        $u = self::parse(self::mysqlDsn());
        return [
            'host' => $u['host'] ?? '127.0.0.1',
            'port' => (int) ($u['port'] ?? 3306),
            'user' => rawurldecode($u['user'] ?? ''),
            'pass' => rawurldecode($u['pass'] ?? ''),
            'db' => ltrim($u['path'] ?? '/test', '/'),
        ];
    }

    private static function get(string $name): ?string
    {
        $v = getenv($name);
        return ($v === false || $v === '') ? null : $v;
    }

    private static function parse(string $dsn): array
    {
        $u = parse_url($dsn);
        if ($u === false) {
            throw new \InvalidArgumentException("unparsable DSN: $dsn");
        }
        return $u;
    }
}

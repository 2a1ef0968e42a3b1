<?php
// The contenders of the session benchmark, in one place: bench/run.php reads this to build each
// process's command line (-d flags), bench/cycle.php reads it to install user-space handlers.
//
// Every contender gets its own key prefix / table / directory, so pools never mix.
//
//   kind    native   session.save_handler set with -d flags only
//           handler  a SessionHandlerInterface object installed by cycle.php
//           api      Cannon\Session\Session (no ext/session involved)
//   store   redis | mysql | files   (redis ones are pointed at the benchmark's private redis-server)
//   conn    fresh (new connection each cycle, like php-fpm without persistent connections)
//           reused (one connection for the whole process)
//   lock    whether the contender locks the session between read and write

declare(strict_types=1);

final class BenchCtx
{
    public function __construct(
        public string $redisHost,
        public int $redisPort,
        public string $mysqlHost,
        public int $mysqlPort,
        public string $mysqlDb,
        public string $mysqlUser,
        public string $mysqlPass,
        public string $tmp,
        public int $payload,
    ) {
    }

    public static function fromArray(array $a): self
    {
        return new self(
            (string) $a['redis_host'], (int) $a['redis_port'], (string) $a['mysql_host'], (int) $a['mysql_port'],
            (string) $a['mysql_db'], (string) $a['mysql_user'], (string) $a['mysql_pass'], (string) $a['tmp'],
            (int) $a['payload'],
        );
    }

    public function prefix(string $contender): string
    {
        return "cb:{$contender}:{$this->payload}:";
    }

    public function cannonRedisDsn(string $contender, bool $lock): string
    {
        return sprintf('redis://%s:%d/0?prefix=%s&lock=%d', $this->redisHost, $this->redisPort, $this->prefix($contender), $lock ? 1 : 0);
    }

    public function cannonMysqlDsn(bool $lock): string
    {
        return sprintf('mysql://%s:%s@%s:%d/%s?table=cannon_bench&auto_create=1&lock=%d',
            rawurlencode($this->mysqlUser), rawurlencode($this->mysqlPass), $this->mysqlHost, $this->mysqlPort,
            $this->mysqlDb, $lock ? 1 : 0);
    }

    public function pdoDsn(): string
    {
        return sprintf('mysql:host=%s;port=%d;dbname=%s', $this->mysqlHost, $this->mysqlPort, $this->mysqlDb);
    }

    public function phpredisPath(string $contender, array $extra = []): string
    {
        $q = http_build_query(['prefix' => $this->prefix($contender)] + $extra);
        return sprintf('tcp://%s:%d?%s', $this->redisHost, $this->redisPort, $q);
    }
}

/** @return array<string, array<string, mixed>> */
function bench_contenders(): array
{
    return [
        'cannon' => [
            'label' => 'cannon native, locked', 'kind' => 'native', 'store' => 'redis', 'conn' => 'reused',
            'lock' => true, 'cannon' => true,
            'ini' => fn (BenchCtx $c) => ['session.save_handler' => 'cannon',
                'session.save_path' => $c->cannonRedisDsn('cannon', true)],
        ],
        'cannon-nolock' => [
            'label' => 'cannon native, lock=0', 'kind' => 'native', 'store' => 'redis', 'conn' => 'reused',
            'lock' => false, 'cannon' => true,
            'ini' => fn (BenchCtx $c) => ['session.save_handler' => 'cannon',
                'session.save_path' => $c->cannonRedisDsn('cannon-nolock', false)],
        ],
        'cannon-class' => [
            'label' => 'cannon RedisHandler class, locked', 'kind' => 'handler', 'store' => 'redis', 'conn' => 'reused',
            'lock' => true, 'cannon' => true,
            'handler' => fn (BenchCtx $c) => new \Cannon\Session\RedisHandler($c->cannonRedisDsn('cannon-class', true)),
        ],
        'cannon-api' => [
            'label' => 'cannon Session API, locked', 'kind' => 'api', 'store' => 'redis', 'conn' => 'reused',
            'lock' => true, 'cannon' => true,
            'dsn' => fn (BenchCtx $c) => $c->cannonRedisDsn('cannon-api', true),
        ],
        // Needs a DSN option that closes the connection at the end of each request; until the
        // extension has it, the DSN is refused and this row is n/a with the parser's message.
        'cannon-fresh' => [
            'label' => 'cannon native, locked, persistent=0', 'kind' => 'native', 'store' => 'redis', 'conn' => 'fresh',
            'lock' => true, 'cannon' => true,
            'ini' => fn (BenchCtx $c) => ['session.save_handler' => 'cannon',
                'session.save_path' => $c->cannonRedisDsn('cannon-fresh', true) . '&persistent=0'],
        ],
        'phpredis' => [
            'label' => 'phpredis native (default)', 'kind' => 'native', 'store' => 'redis', 'conn' => 'fresh',
            'lock' => false, 'baseline' => true,
            'ini' => fn (BenchCtx $c) => ['session.save_handler' => 'redis',
                'session.save_path' => $c->phpredisPath('phpredis')],
        ],
        'phpredis-persistent' => [
            'label' => 'phpredis native, persistent=1', 'kind' => 'native', 'store' => 'redis', 'conn' => 'reused',
            'lock' => false,
            'ini' => fn (BenchCtx $c) => ['session.save_handler' => 'redis',
                'session.save_path' => $c->phpredisPath('phpredis-persistent', ['persistent' => 1])],
        ],
        'phpredis-locked' => [
            'label' => 'phpredis native, locking_enabled=1', 'kind' => 'native', 'store' => 'redis', 'conn' => 'fresh',
            'lock' => true,
            'ini' => fn (BenchCtx $c) => ['session.save_handler' => 'redis',
                'session.save_path' => $c->phpredisPath('phpredis-locked'),
                'redis.session.locking_enabled' => '1'],
        ],
        'php-redis-class' => [
            'label' => 'plain PHP handler over phpredis', 'kind' => 'handler', 'store' => 'redis', 'conn' => 'reused',
            'lock' => false,
            'handler' => function (BenchCtx $c) {
                require_once __DIR__ . '/handlers.php';
                return new BenchPhpRedisHandler($c->redisHost, $c->redisPort, $c->prefix('php-redis-class'));
            },
        ],
        'symfony-redis' => [
            'label' => 'Symfony RedisSessionHandler', 'kind' => 'handler', 'store' => 'redis', 'conn' => 'reused',
            'lock' => false, 'symfony' => true,
            'handler' => function (BenchCtx $c) {
                $r = new \Redis();
                $r->connect($c->redisHost, $c->redisPort, 2.0);
                return new \Symfony\Component\HttpFoundation\Session\Storage\Handler\RedisSessionHandler(
                    $r, ['prefix' => $c->prefix('symfony-redis')]);
            },
        ],
        'cannon-mysql' => [
            'label' => 'cannon native MySQL, locked', 'kind' => 'native', 'store' => 'mysql', 'conn' => 'reused',
            'lock' => true, 'cannon' => true,
            'ini' => fn (BenchCtx $c) => ['session.save_handler' => 'cannon',
                'session.save_path' => $c->cannonMysqlDsn(true)],
        ],
        'cannon-mysql-nolock' => [
            'label' => 'cannon native MySQL, lock=0', 'kind' => 'native', 'store' => 'mysql', 'conn' => 'reused',
            'lock' => false, 'cannon' => true,
            'ini' => fn (BenchCtx $c) => ['session.save_handler' => 'cannon',
                'session.save_path' => $c->cannonMysqlDsn(false)],
        ],
        'symfony-pdo' => [
            'label' => 'Symfony PdoSessionHandler (locked)', 'kind' => 'handler', 'store' => 'mysql', 'conn' => 'fresh',
            'lock' => true, 'symfony' => true,
            // Given a DSN, PdoSessionHandler connects in open() and disconnects in close().
            'handler' => fn (BenchCtx $c) => new \Symfony\Component\HttpFoundation\Session\Storage\Handler\PdoSessionHandler(
                $c->pdoDsn(), ['db_username' => $c->mysqlUser, 'db_password' => $c->mysqlPass,
                    'db_table' => 'bench_symfony_sessions']),
        ],
        'php-pdo' => [
            'label' => 'plain PHP PDO handler', 'kind' => 'handler', 'store' => 'mysql', 'conn' => 'fresh',
            'lock' => false,
            'handler' => function (BenchCtx $c) {
                require_once __DIR__ . '/handlers.php';
                return new BenchPdoHandler($c->pdoDsn(), $c->mysqlUser, $c->mysqlPass, false);
            },
        ],
        'php-pdo-persistent' => [
            'label' => 'plain PHP PDO handler, persistent', 'kind' => 'handler', 'store' => 'mysql', 'conn' => 'reused',
            'lock' => false,
            'handler' => function (BenchCtx $c) {
                require_once __DIR__ . '/handlers.php';
                return new BenchPdoHandler($c->pdoDsn(), $c->mysqlUser, $c->mysqlPass, true);
            },
        ],
        'files' => [
            'label' => 'PHP files handler (flock)', 'kind' => 'native', 'store' => 'files', 'conn' => 'fresh',
            'lock' => true,
            'ini' => fn (BenchCtx $c) => ['session.save_handler' => 'files',
                'session.save_path' => $c->tmp . '/files-' . $c->payload],
        ],
    ];
}

/** ini settings every contender shares: no GC, no cookies, no strict mode (pool ids are accepted). */
function bench_common_ini(): array
{
    return [
        'session.gc_probability' => '0',
        'session.use_cookies' => '0',
        'session.use_only_cookies' => '0',
        'session.use_strict_mode' => '0',
        'session.cache_limiter' => '',
        'session.lazy_write' => '1',
        'session.serialize_handler' => 'php',
        'memory_limit' => '256M',
        'display_errors' => 'stderr',
        'error_reporting' => (string) E_ALL,
    ];
}

<?php

declare(strict_types=1);

namespace Cannon\Session\Tests;

use Cannon\Session\Tests\DatabaseFixtures\Db;
use Cannon\Session\Tests\SessionFixtures\RedisFixture;
use Cannon\Session\Tests\Support\Env;
use Cannon\Session\Tests\Support\PhpProcess;
use Cannon\Session\Tests\Support\PhpServer;
use PHPUnit\Framework\TestCase;

require_once __DIR__ . '/fixtures/session/RedisFixture.php';
require_once __DIR__ . '/fixtures/database/Db.php';

/**
 * The Laravel integration (integrations/laravel) in a real Laravel 8 app: Debian's
 * php-laravel-framework, the stock EncryptCookies + StartSession middleware, config/session.php
 * with `'driver' => 'cannon'`, served by `php -S` with 4 workers. The app is fixtures/laravel,
 * copied once to a temporary directory, where the package is installed with the README's two
 * Composer commands and registered by Laravel's package discovery.
 *
 * Without php-laravel-framework or composer these tests fail: scripts/deps.sh installs them.
 */
final class LaravelTest extends TestCase
{
    use RedisFixture;

    private const LIFETIME_MINUTES = 7;
    private const COOKIE = 'laravel_session';

    private ?PhpServer $server = null;
    /** The app with the package installed, shared by the tests of this class. */
    private static string $builtApp = '';
    private string $app = '';
    /** @var list<string> */
    private array $tables = [];

    protected function setUp(): void
    {
        self::assertNotFalse(
            stream_resolve_include_path('Illuminate/autoload.php'),
            "Debian's php-laravel-framework is not installed (Illuminate/autoload.php is not on the include_path): run scripts/deps.sh"
        );
        $this->setUpRedisFixture();
        if (self::$builtApp === '') {
            self::$builtApp = self::buildApp();
        }
        $this->app = self::$builtApp;
    }

    public static function tearDownAfterClass(): void
    {
        if (self::$builtApp !== '') {
            PhpProcess::removeDir(self::$builtApp);
            self::$builtApp = '';
        }
    }

    /**
     * Copies fixtures/laravel to a temporary directory and installs the package there as the
     * README says: a Composer path repository, then `composer require`.
     */
    private static function buildApp(): string
    {
        $composer = '/usr/bin/composer';
        self::assertFileExists($composer, "composer is not installed: run scripts/deps.sh");
        $app = PhpProcess::tempDir('cannon-laravel-');
        PhpProcess::copyTree(__DIR__ . '/fixtures/laravel', $app);
        foreach (['bootstrap/cache', 'storage/framework/sessions', 'storage/logs'] as $d) {
            mkdir("$app/$d", 0700, true);
        }
        // Laravel itself comes from Debian, not Composer: the app's composer.json says it
        // provides the illuminate/* packages the integration requires, and Packagist is off, so
        // nothing is downloaded.
        file_put_contents("$app/composer.json", json_encode([
            'name' => 'cannon-test/laravel-app',
            'provide' => ['illuminate/session' => '8.83.26', 'illuminate/support' => '8.83.26'],
            'repositories' => ['packagist.org' => false],
        ], JSON_PRETTY_PRINT | JSON_UNESCAPED_SLASHES));
        self::composer($composer, $app, 'config', 'repositories.cannon-session', 'path', Env::repoRoot() . '/integrations/laravel');
        self::composer($composer, $app, 'require', 'cannon/session-laravel:@dev');
        self::assertFileExists("$app/vendor/autoload.php");
        return $app;
    }

    private static function composer(string $composer, string $cwd, string ...$args): void
    {
        $home = PhpProcess::tempDir('cannon-composer-home-');
        try {
            $env = getenv();
            $env['COMPOSER_HOME'] = $home;
            $env['COMPOSER_ALLOW_SUPERUSER'] = '1';
            $env['COMPOSER_NO_INTERACTION'] = '1';
            // The extension is loaded so that Composer sees ext-cannon_session.
            $cmd = array_merge([PHP_BINARY, '-d', 'extension=' . Env::extPath(), $composer, '--no-ansi'], $args);
            $proc = proc_open($cmd, [0 => ['file', '/dev/null', 'r'], 1 => ['file', "$home/out", 'w'], 2 => ['file', "$home/out", 'a']], $pipes, $cwd, $env);
            self::assertIsResource($proc);
            $deadline = microtime(true) + 60;
            while (($st = proc_get_status($proc))['running'] && microtime(true) < $deadline) {
                usleep(10000);
            }
            $exit = $st['running'] ? 124 : $st['exitcode'];
            PhpProcess::kill($proc);
            proc_close($proc);
            self::assertSame(0, $exit, 'composer ' . implode(' ', $args) . ":\n" . file_get_contents("$home/out"));
        } finally {
            PhpProcess::removeDir($home);
        }
    }

    protected function tearDown(): void
    {
        $errors = $this->server?->stop() ?? '';
        $this->server = null;
        if ($this->tables !== []) {
            Db::drop(...$this->tables);
        }
        $this->tearDownRedisFixture();
        // Exceptions the app reports on purpose are logged as "laravel app: ..."; anything else is not expected.
        $unexpected = array_filter(explode("\n", $errors), static fn (string $l): bool => trim($l) !== '' && !str_contains($l, 'laravel app: '));
        if ($unexpected !== [] && !$this->hasFailed()) {
            self::fail("the Laravel app raised PHP errors:\n$errors");
        }
    }

    /** Starts the app under `php -S` with the cannon driver on $dsn. */
    private function serve(string $dsn, array $env = []): PhpServer
    {
        $this->server = PhpServer::start("$this->app/public", $env + [
            'CANNON_SESSION_DSN' => $dsn,
            'SESSION_LIFETIME' => (string) self::LIFETIME_MINUTES,
            'SESSION_LOTTERY' => '0',
        ], 4, [], "$this->app/public/index.php");
        return $this->server;
    }

    /**
     * GET $path as a browser with the cookie header $cookie; returns the decoded JSON, the
     * status and the new cookie header (the session cookie the response set, else $cookie).
     * @return array{status:int, json:?array, cookie:string, body:string, seconds:float}
     */
    private function visit(string $path, string $cookie = ''): array
    {
        $r = $this->server->get($path, $cookie);
        foreach ($r['headers'] as $line) {
            if (stripos($line, 'Set-Cookie: ' . self::COOKIE . '=') === 0) {
                $cookie = explode(';', substr($line, strlen('Set-Cookie: ')), 2)[0];
            }
        }
        $json = json_decode($r['body'], true);
        return ['status' => $r['status'], 'json' => is_array($json) ? $json : null, 'cookie' => $cookie,
            'body' => $r['body'], 'seconds' => $r['seconds']];
    }

    private function visitOk(string $path, string $cookie = ''): array
    {
        $r = $this->visit($path, $cookie);
        self::assertSame(200, $r['status'], "GET $path: {$r['body']}\n" . $this->server->errors());
        self::assertIsArray($r['json'], "GET $path did not answer JSON: {$r['body']}");
        return $r;
    }

    /** The stored Laravel attributes of a session (Laravel serializes its array with serialize()). */
    private function storedRedis(string $id): ?array
    {
        $raw = $this->redis()->get($this->key($id));
        if ($raw === false) {
            return null;
        }
        $data = unserialize($raw);
        self::assertIsArray($data, 'Laravel stores a serialized array');
        return $data;
    }

    // ---- tests -------------------------------------------------------------------------------------

    public function testTwoRequestsShareTheSessionThroughTheCookie(): void
    {
        $this->serve($this->dsn());
        $first = $this->visitOk('/inc');
        self::assertSame(1, $first['json']['n']);
        self::assertSame('Cannon\Session\RedisHandler', $first['json']['handler']);
        // Package discovery found the provider in vendor/composer/installed.json.
        $discovered = require "$this->app/bootstrap/cache/packages.php";
        self::assertSame(
            ['Cannon\\Session\\Laravel\\CannonSessionServiceProvider'],
            $discovered['cannon/session-laravel']['providers'] ?? null
        );
        self::assertNotSame('', $first['cookie'], 'StartSession sends the session cookie');
        $id = $first['json']['id'];
        self::assertMatchesRegularExpression('/^[A-Za-z0-9]{40}$/', $id, "Laravel's own 40-character ids");

        $stored = $this->storedRedis($id);
        self::assertSame(1, $stored['n'] ?? null);
        self::assertArrayHasKey('_token', $stored);
        // session.lifetime (7 minutes) is the expiry, not php.ini's gc_maxlifetime (1440 s).
        self::assertSame((string) (self::LIFETIME_MINUTES * 60), $first['json']['gc_maxlifetime']);
        $ttl = $this->redis()->ttl($this->key($id));
        self::assertGreaterThan(self::LIFETIME_MINUTES * 60 - 30, $ttl);
        self::assertLessThanOrEqual(self::LIFETIME_MINUTES * 60, $ttl);
        self::assertSame(0, $this->redis()->exists($this->key($id) . ':lock'), 'write() released the lock');

        $second = $this->visitOk('/inc', $first['cookie']);
        self::assertSame($id, $second['json']['id']);
        self::assertSame(2, $second['json']['n']);
        self::assertSame(2, $this->storedRedis($id)['n']);

        // A browser without the cookie gets another session.
        $other = $this->visitOk('/inc');
        self::assertNotSame($id, $other['json']['id']);
        self::assertSame(1, $other['json']['n']);
    }

    public function testConcurrentRequestsOfOneSessionLoseNoUpdate(): void
    {
        $this->serve($this->dsn());
        $first = $this->visitOk('/show');
        $id = $first['json']['id'];
        self::assertNull($first['json']['n']);

        // 4 clients x 25 requests, each reading n, sleeping 3 ms, writing n + 1.
        $statuses = $this->server->hammer('/inc?sleep_us=3000', $first['cookie'], 4, 25);
        self::assertSame(array_fill(0, 100, 200), $statuses);
        self::assertSame(100, $this->storedRedis($id)['n'], 'every increment survived: the lock serialised the requests');
        self::assertSame(100, $this->visitOk('/show', $first['cookie'])['json']['n']);
        self::assertSame(0, $this->redis()->exists($this->key($id) . ':lock'));
    }

    public function testWithoutLockingTheSameRequestsLoseUpdates(): void
    {
        // The control for the test above: the same load with lock=0 loses increments, so the
        // exact count there is the lock's doing.
        $this->serve($this->dsn(['lock' => '0']));
        $first = $this->visitOk('/show');
        $statuses = $this->server->hammer('/inc?sleep_us=20000', $first['cookie'], 4, 10);
        self::assertSame(array_fill(0, 40, 200), $statuses);
        self::assertLessThan(40, $this->storedRedis($first['json']['id'])['n']);
    }

    public function testARequestThatFailsOrExitsDoesNotKeepTheLock(): void
    {
        // A lock left behind would make the next request wait 2 s and fail with a 500 (visitOk
        // wants a 200), as the last part of this test shows.
        $this->serve($this->dsn(['lock_wait_timeout' => '2']));
        $first = $this->visitOk('/inc');
        $id = $first['json']['id'];

        // An exception in the controller: Laravel renders it and StartSession still saves.
        $failed = $this->visit('/fail', $first['cookie']);
        self::assertSame(500, $failed['status']);
        self::assertStringContainsString('this route fails on purpose', $failed['body']);
        $after = $this->visitOk('/inc', $first['cookie']);
        self::assertSame(2, $after['json']['n']);

        // exit() before StartSession saves: nothing is written, and the extension releases the
        // lock when the request ends.
        $exited = $this->visit('/exit', $first['cookie']);
        self::assertSame(200, $exited['status'], $exited['body']);
        self::assertSame(2, $this->storedRedis($id)['n'], 'the exit()ed request wrote nothing');
        self::assertSame(0, $this->redis()->exists($this->key($id) . ':lock'), 'and left no lock');
        $next = $this->visitOk('/inc', $first['cookie']);
        self::assertSame(3, $next['json']['n']);

        // A lock that really is held makes Laravel's request fail after lock_wait_timeout.
        $this->redis()->set($this->key($id) . ':lock', 'someone-else', ['PX' => 10000]);
        $blocked = $this->visit('/inc', $first['cookie']);
        self::assertSame(500, $blocked['status']);
        self::assertStringContainsString('Cannon\Session\LockTimeoutException', $blocked['body']);
        self::assertGreaterThan(1.9, $blocked['seconds']);
        self::assertSame(3, $this->storedRedis($id)['n']);
        self::assertStringContainsString('LockTimeoutException', $this->server->errors(), 'reported');
    }

    public function testRegenerateAndInvalidateMoveTheSession(): void
    {
        $this->serve($this->dsn());
        $first = $this->visitOk('/inc');
        $old = $first['json']['id'];

        $regen = $this->visitOk('/regenerate', $first['cookie']);
        $new = $regen['json']['id'];
        self::assertSame($old, $regen['json']['before']);
        self::assertNotSame($old, $new);
        self::assertNotSame($first['cookie'], $regen['cookie'], 'the new id is sent');
        self::assertSame(1, $this->storedRedis($new)['n'], 'the data moved to the new id');
        // Laravel's regenerate() keeps the old session (regenerate(true) would destroy it)...
        self::assertSame(1, $this->storedRedis($old)['n']);
        // ...and its lock, taken by read(), is released at the end of the request.
        self::assertSame(0, $this->redis()->exists($this->key($old) . ':lock'));
        self::assertSame(0, $this->redis()->exists($this->key($new) . ':lock'));
        self::assertSame(2, $this->visitOk('/inc', $regen['cookie'])['json']['n']);
        self::assertSame(2, $this->visitOk('/inc', $first['cookie'])['json']['n'], 'the old session is still usable');

        $inv = $this->visitOk('/invalidate', $regen['cookie']);
        self::assertSame($new, $inv['json']['before']);
        self::assertNull($inv['json']['n']);
        self::assertNull($this->storedRedis($new), 'invalidate() destroyed the session');
        self::assertSame(0, $this->redis()->exists($this->key($new) . ':lock'));
        self::assertNotNull($this->storedRedis($inv['json']['id']));
    }

    public function testAnEncryptedSession(): void
    {
        // session.encrypt: Laravel's EncryptedStore encrypts the payload before write().
        $this->serve($this->dsn(), ['SESSION_ENCRYPT' => '1']);
        $first = $this->visitOk('/inc');
        $id = $first['json']['id'];
        $raw = $this->redis()->get($this->key($id));
        self::assertIsString($raw);
        self::assertStringNotContainsString('_token', $raw, 'only ciphertext is stored');
        self::assertFalse(@unserialize($raw));
        self::assertSame(2, $this->visitOk('/inc', $first['cookie'])['json']['n']);
    }

    public function testAMysqlDsnUsesTheDatabaseHandler(): void
    {
        $table = Db::uniqueTable('laravel');
        $this->tables[] = $table;
        $dsn = Env::mysqlDsn() . (str_contains(Env::mysqlDsn(), '?') ? '&' : '?') . "table=$table&auto_create=1";
        // The gc lottery on every request: Laravel calls the handler's gc() too.
        $this->serve($dsn, ['SESSION_LOTTERY' => '100']);

        $first = $this->visitOk('/inc');
        self::assertSame('Cannon\Session\DatabaseHandler', $first['json']['handler']);
        $id = $first['json']['id'];
        $second = $this->visitOk('/inc', $first['cookie']);
        self::assertSame($id, $second['json']['id']);
        self::assertSame(2, $second['json']['n']);

        $row = Db::pdo()->query("SELECT data, expires_at FROM `$table` WHERE session_id = " . Db::pdo()->quote($id))->fetch(\PDO::FETCH_ASSOC);
        self::assertIsArray($row);
        self::assertSame(2, unserialize($row['data'])['n']);
        $ttl = (int) $row['expires_at'] - time();
        self::assertGreaterThan(self::LIFETIME_MINUTES * 60 - 30, $ttl, 'session.lifetime is the expiry');
        self::assertLessThanOrEqual(self::LIFETIME_MINUTES * 60 + 1, $ttl);

        $statuses = $this->server->hammer('/inc?sleep_us=3000', $first['cookie'], 4, 10);
        self::assertSame(array_fill(0, 40, 200), $statuses);
        self::assertSame(42, $this->visitOk('/show', $first['cookie'])['json']['n']);
    }

    public function testThePackageIsWellFormed(): void
    {
        $root = Env::repoRoot() . '/integrations/laravel';
        $composer = json_decode((string) file_get_contents("$root/composer.json"), true, 512, JSON_THROW_ON_ERROR);
        self::assertSame('library', $composer['type']);
        self::assertArrayHasKey('ext-cannon_session', $composer['require']);
        self::assertSame(['Cannon\\Session\\Laravel\\' => 'src/'], $composer['autoload']['psr-4']);
        // Package discovery names the provider, and PSR-4 finds its file.
        self::assertSame([\Cannon\Session\Laravel\CannonSessionServiceProvider::class], $composer['extra']['laravel']['providers']);
        self::assertFileExists("$root/src/CannonSessionServiceProvider.php");
        // The IDE stubs are the repository's (a symlink, so they cannot drift), outside the autoload.
        self::assertSame(
            file_get_contents(Env::repoRoot() . '/stubs/cannon_session.stub.php'),
            file_get_contents("$root/stubs/cannon_session.stub.php")
        );
    }

    public function testTheProviderOutsideARequest(): void
    {
        // In a child PHP: Laravel's global helpers do not belong in PHPUnit's process.
        $src = var_export(Env::repoRoot() . '/integrations/laravel/src/CannonSessionServiceProvider.php', true);
        $dsn = var_export($this->dsn(), true);
        $mysql = var_export(Env::mysqlDsn(), true);
        $r = PhpProcess::run(<<<PHP
            require 'Illuminate/autoload.php';
            require $src;
            use Cannon\Session\Laravel\CannonSessionServiceProvider as P;
            \$out = [];
            \$out['redis'] = get_class(P::createHandler($dsn));
            \$out['mysql'] = get_class(P::createHandler($mysql));
            ini_set('cannon_session.default_dsn', $dsn);
            \$out['default'] = get_class(P::createHandler(null));
            \$out['empty'] = get_class(P::createHandler(''));
            try { P::createHandler('memcached://user:hunter2@host'); } catch (InvalidArgumentException \$e) { \$out['unknown'] = \$e->getMessage(); }
            try { P::createHandler('redis://127.0.0.1:6379?bogus=1'); } catch (Cannon\Session\ConfigException \$e) { \$out['bad'] = get_class(\$e); }
            P::applyLifetime(90);
            \$out['lifetime'] = ini_get('session.gc_maxlifetime');
            P::applyLifetime(null);
            \$out['null'] = ini_get('session.gc_maxlifetime');
            try { P::applyLifetime(0); } catch (InvalidArgumentException \$e) { \$out['zero'] = 'refused'; }
            session_id('abcdefghijklmnopqrstuvwxyz'); session_start();
            try { P::applyLifetime(10); } catch (RuntimeException \$e) { \$out['active'] = \$e->getMessage(); }
            session_abort();
            echo json_encode(\$out);
            PHP, ['session.save_handler' => 'files', 'session.save_path' => sys_get_temp_dir(), 'session.use_cookies' => '0']);
        self::assertSame(0, $r['exit'], $r['stderr'] . $r['stdout']);
        self::assertSame('', $r['stderr']);
        $out = json_decode($r['stdout'], true);
        self::assertSame('Cannon\Session\RedisHandler', $out['redis']);
        self::assertSame('Cannon\Session\DatabaseHandler', $out['mysql']);
        self::assertSame('Cannon\Session\RedisHandler', $out['default']);
        self::assertSame('Cannon\Session\RedisHandler', $out['empty']);
        self::assertStringContainsString('"memcached"', $out['unknown']);
        self::assertStringNotContainsString('hunter2', $out['unknown']);
        self::assertSame('Cannon\Session\ConfigException', $out['bad']);
        self::assertSame('5400', $out['lifetime']);
        self::assertSame('5400', $out['null'], 'null keeps the current setting');
        self::assertSame('refused', $out['zero']);
        self::assertStringContainsString('session.gc_maxlifetime', $out['active']);
    }
}

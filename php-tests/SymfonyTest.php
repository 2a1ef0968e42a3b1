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
 * Symfony's HttpFoundation sessions (Debian's php-symfony-http-foundation, 5.4) on the extension,
 * the two ways a Symfony app can be configured:
 * - `framework.session.handler_id: null`: NativeSessionStorage with no handler, so PHP's own
 *   session.save_handler (`cannon`) does the work;
 * - `handler_id` naming a service of class Cannon\Session\RedisHandler or DatabaseHandler:
 *   NativeSessionStorage with that object as its handler.
 * Each runs in child PHP processes, several at once for the locking tests. Then the same through
 * a real FrameworkBundle app (fixtures/symfony, Debian's php-symfony-framework-bundle) configured
 * by YAML as the README says, under `php -S` with 4 workers.
 *
 * Without those Symfony packages these tests fail: scripts/deps.sh installs them.
 */
final class SymfonyTest extends TestCase
{
    use RedisFixture;

    /** @var list<string> */
    private array $tables = [];
    private ?PhpServer $server = null;
    private string $app = '';

    protected function setUp(): void
    {
        self::assertNotFalse(
            stream_resolve_include_path('Symfony/Component/HttpFoundation/autoload.php'),
            "Debian's php-symfony-http-foundation is not installed: run scripts/deps.sh"
        );
        $this->setUpRedisFixture();
    }

    protected function tearDown(): void
    {
        $errors = $this->server?->stop() ?? '';
        $this->server = null;
        if ($this->app !== '') {
            PhpProcess::removeDir($this->app);
        }
        if ($errors !== '' && !$this->hasFailed()) {
            self::fail("the Symfony app raised PHP errors:\n$errors");
        }
        if ($this->tables !== []) {
            Db::drop(...$this->tables);
        }
        $this->tearDownRedisFixture();
    }

    /** @return array<string, array{string, string}> [how the storage gets its handler, backend] */
    public static function setups(): array
    {
        return [
            'handler_id null, save_handler=cannon, Redis' => ['native', 'redis'],
            'handler_id null, save_handler=cannon, MySQL' => ['native', 'mysql'],
            'RedisHandler service' => ['RedisHandler', 'redis'],
            'DatabaseHandler service' => ['DatabaseHandler', 'mysql'],
        ];
    }

    private function backendDsn(string $backend): string
    {
        if ($backend === 'redis') {
            return $this->dsn();
        }
        if ($this->tables === []) {
            $this->tables[] = Db::uniqueTable('symfony');
        }
        $base = Env::mysqlDsn();
        return $base . (str_contains($base, '?') ? '&' : '?') . 'table=' . $this->tables[0] . '&auto_create=1';
    }

    /**
     * PHP source run in a child before $body: Symfony's autoloader and open_session(?id, options),
     * which builds Session + NativeSessionStorage the way the setup says and starts it.
     */
    private function prelude(string $setup, string $dsn): string
    {
        $handler = match ($setup) {
            'native' => 'null',
            'RedisHandler' => 'new Cannon\Session\RedisHandler(' . var_export($dsn, true) . ')',
            'DatabaseHandler' => 'new Cannon\Session\DatabaseHandler(' . var_export($dsn, true) . ')',
        };
        return <<<PHP
            <?php
            require 'Symfony/Component/HttpFoundation/autoload.php';
            use Symfony\Component\HttpFoundation\Session\Session;
            use Symfony\Component\HttpFoundation\Session\Storage\NativeSessionStorage;

            function open_session(?string \$id = null, array \$options = []): Session
            {
                \$GLOBALS['storage'] = new NativeSessionStorage(\$options, $handler);
                \$session = new Session(\$GLOBALS['storage']);
                if (\$id !== null) {
                    \$session->setId(\$id);
                }
                \$session->start();
                return \$session;
            }

            PHP;
    }

    /** @return array<string, string> */
    private static function ini(string $setup, string $dsn): array
    {
        // php.ini of a Symfony app with handler_id: null. With a handler service, PHP's own
        // settings are left as Debian ships them (files), which the handler replaces.
        return $setup === 'native'
            ? ['session.save_handler' => 'cannon', 'session.save_path' => '"' . $dsn . '"']
            : [];
    }

    private function runChild(string $setup, string $dsn, string $body): mixed
    {
        $r = PhpProcess::run($this->prelude($setup, $dsn) . $body, self::ini($setup, $dsn), null, 30);
        self::assertFalse($r['timedOut'], 'child timed out: ' . $r['stderr']);
        self::assertSame('', $r['stderr'], 'the child PHP raised errors');
        self::assertSame(0, $r['exit'], $r['stdout']);
        return json_decode($r['stdout'], true, 512, JSON_THROW_ON_ERROR);
    }

    /** The stored payload of a session, read behind the extension's back. */
    private function stored(string $backend, string $id): ?string
    {
        if ($backend === 'redis') {
            $v = $this->redis()->get($this->key($id));
            return $v === false ? null : $v;
        }
        $st = Db::pdo()->prepare('SELECT data FROM `' . $this->tables[0] . '` WHERE session_id = ?');
        $st->execute([$id]);
        $v = $st->fetchColumn();
        return $v === false ? null : (string) $v;
    }

    /** @dataProvider setups */
    public function testASessionSurvivesFromOneProcessToTheNext(string $setup, string $backend): void
    {
        $dsn = $this->backendDsn($backend);
        $first = $this->runChild($setup, $dsn, <<<'PHP'
            $s = open_session(null, ['gc_maxlifetime' => 300]);
            $s->set('user', 42);
            $s->getFlashBag()->add('notice', 'saved');
            $id = $s->getId();
            $s->save();
            echo json_encode(['id' => $id, 'save_handler' => $GLOBALS['storage']->getSaveHandler()->getSaveHandlerName()]);
            PHP);
        $id = $first['id'];
        self::assertMatchesRegularExpression('/^[A-Za-z0-9,-]{22,256}$/', $id);
        // handler_id: null wraps PHP's configured module (\SessionHandler); a handler object is "user".
        self::assertSame($setup === 'native' ? 'cannon' : 'user', $first['save_handler']);
        $raw = $this->stored($backend, $id);
        self::assertNotNull($raw, 'stored in the backend');
        self::assertStringContainsString('_sf2_attributes|a:1:{s:4:"user";i:42;}', $raw);
        if ($backend === 'redis') {
            $ttl = $this->redis()->ttl($this->key($id));
            self::assertGreaterThan(280, $ttl, "Symfony's gc_maxlifetime option is the expiry");
            self::assertLessThanOrEqual(300, $ttl);
            self::assertSame(0, $this->redis()->exists($this->key($id) . ':lock'), 'the lock was released');
        }

        $idLiteral = var_export($id, true);
        $second = $this->runChild($setup, $dsn, <<<PHP
            \$s = open_session($idLiteral);
            \$out = ['id' => \$s->getId(), 'user' => \$s->get('user'), 'flash' => \$s->getFlashBag()->get('notice')];
            \$s->invalidate();
            \$out['new'] = \$s->getId();
            \$s->save();
            echo json_encode(\$out);
            PHP);
        self::assertSame(['id' => $id, 'user' => 42, 'flash' => ['saved']], array_diff_key($second, ['new' => 1]));
        self::assertNotSame($id, $second['new']);
        self::assertNull($this->stored($backend, $id), 'invalidate() destroyed the old session');

        // An id nobody issued is replaced (NativeSessionStorage turns on use_strict_mode).
        $third = $this->runChild($setup, $dsn, <<<'PHP'
            $s = open_session('NeverIssuedId0123456789abcdef');
            $s->set('x', 1);
            echo json_encode(['id' => $s->getId()]);
            $s->save();
            PHP);
        self::assertNotSame('NeverIssuedId0123456789abcdef', $third['id']);
        self::assertNull($this->stored($backend, 'NeverIssuedId0123456789abcdef'));
    }

    /** @dataProvider setups */
    public function testConcurrentRequestsOfOneSessionLoseNoUpdate(string $setup, string $backend): void
    {
        self::assertSame(100, $this->concurrentIncrements($setup, $this->backendDsn($backend)), 'every increment survived');
    }

    public function testWithoutLockingTheSameLoadLosesUpdates(): void
    {
        // The control for the test above: lock=0 loses increments, so the exact count is the lock's.
        self::assertLessThan(100, $this->concurrentIncrements('RedisHandler', $this->dsn(['lock' => '0'])));
    }

    /** 4 processes x 25 requests of one session: start, read n, sleep 2 ms, write n + 1, save. Returns n. */
    private function concurrentIncrements(string $setup, string $dsn): int
    {
        $id = $this->runChild($setup, $dsn, <<<'PHP'
            $s = open_session();
            $s->set('n', 0);
            $id = $s->getId();
            $s->save();
            echo json_encode($id);
            PHP);

        $idLiteral = var_export($id, true);
        $body = <<<PHP
            for (\$i = 0; \$i < 25; \$i++) {
                \$s = open_session($idLiteral);
                \$n = \$s->get('n');
                usleep(2000);
                \$s->set('n', \$n + 1);
                \$s->save();
            }
            echo json_encode(true);
            PHP;
        $code = $this->prelude($setup, $dsn) . $body;
        $handles = [];
        for ($c = 0; $c < 4; $c++) {
            $handles[] = PhpProcess::start($code, self::ini($setup, $dsn));
        }
        foreach ($handles as $h) {
            $r = PhpProcess::wait($h, 60);
            self::assertFalse($r['timedOut'], 'a client timed out');
            self::assertSame('', $r['stderr']);
            self::assertSame('true', $r['stdout']);
        }

        $n = $this->runChild($setup, $dsn, <<<PHP
            \$s = open_session($idLiteral);
            echo json_encode(\$s->get('n'));
            \$s->save();
            PHP);
        return $n;
    }

    public function testSymfonysFileHandlerOverridesTheSaveHandler(): void
    {
        // framework.session's default handler_id (session.handler.native_file) builds a
        // NativeFileSessionHandler, which sets session.save_handler=files itself: the php.ini's
        // `cannon` is then not used. handler_id: null is what keeps it.
        $dir = PhpProcess::tempDir('cannon-sf-files-');
        try {
            $dsn = $this->dsn();
            $files = var_export($dir, true);
            $out = $this->runChild('native', $dsn, <<<PHP
                use Symfony\Component\HttpFoundation\Session\Storage\Handler\NativeFileSessionHandler;
                \$storage = new NativeSessionStorage([], new NativeFileSessionHandler($files));
                \$s = new Session(\$storage);
                \$s->start();
                \$s->set('x', 1);
                \$id = \$s->getId();
                \$s->save();
                echo json_encode(['id' => \$id, 'save_handler' => \$storage->getSaveHandler()->getSaveHandlerName()]);
                PHP);
            self::assertSame('files', $out['save_handler']);
            self::assertFileExists("$dir/sess_{$out['id']}");
            self::assertNull($this->stored('redis', $out['id']), 'nothing went to Redis');
        } finally {
            PhpProcess::removeDir($dir);
        }
    }

    // ---- a FrameworkBundle app ---------------------------------------------------------------------

    /** @return array<string, array{string, string}> [APP_ENV of fixtures/symfony, backend] */
    public static function appEnvironments(): array
    {
        return [
            'handler_id: null + save_handler=cannon' => ['native', 'redis'],
            'handler_id: RedisHandler service' => ['redis_service', 'redis'],
            'handler_id: DatabaseHandler service' => ['mysql_service', 'mysql'],
        ];
    }

    /** Serves a copy of fixtures/symfony with APP_ENV=$env; php.ini says save_handler=cannon. */
    private function serveApp(string $env, string $dsn): PhpServer
    {
        self::assertNotFalse(
            stream_resolve_include_path('Symfony/Bundle/FrameworkBundle/autoload.php'),
            "Debian's php-symfony-framework-bundle is not installed: run scripts/deps.sh"
        );
        $this->app = PhpProcess::tempDir('cannon-symfony-');
        PhpProcess::copyTree(__DIR__ . '/fixtures/symfony', $this->app);
        $this->server = PhpServer::start("$this->app/public", ['APP_ENV' => $env, 'CANNON_SESSION_DSN' => $dsn], 4,
            ['session.save_handler' => 'cannon', 'session.save_path' => '"' . $dsn . '"'], "$this->app/public/index.php");
        return $this->server;
    }

    /** @return array{json:array, cookie:string} */
    private function appGet(string $path, string $cookie = ''): array
    {
        $r = $this->server->get($path, $cookie);
        self::assertSame(200, $r['status'], "GET $path: {$r['body']}\n" . $this->server->errors());
        foreach ($r['headers'] as $line) {
            if (preg_match('/^Set-Cookie: (PHPSESSID=[^;]*)/i', $line, $m)) {
                $cookie = $m[1];
            }
        }
        $json = json_decode($r['body'], true);
        self::assertIsArray($json, $r['body']);
        return ['json' => $json, 'cookie' => $cookie];
    }

    /** @dataProvider appEnvironments */
    public function testAFrameworkBundleAppConfiguredAsTheReadmeSays(string $env, string $backend): void
    {
        $dsn = $this->backendDsn($backend);
        $this->serveApp($env, $dsn);

        $first = $this->appGet('/inc');
        self::assertSame(1, $first['json']['n']);
        self::assertNotSame('', $first['cookie'], 'the session cookie was sent');
        $id = $first['json']['id'];
        self::assertSame('420', $first['json']['gc_maxlifetime'], 'framework.session.gc_maxlifetime');
        self::assertStringContainsString('_sf2_attributes|a:1:{s:1:"n";i:1;}', (string) $this->stored($backend, $id));
        if ($backend === 'redis') {
            self::assertGreaterThan(400, $this->redis()->ttl($this->key($id)));
        }
        $second = $this->appGet('/inc', $first['cookie']);
        self::assertSame($id, $second['json']['id']);
        self::assertSame(2, $second['json']['n']);

        // 4 clients x 25 requests of one session, each reading n, sleeping 3 ms, writing n + 1.
        $statuses = $this->server->hammer('/inc?sleep_us=3000', $first['cookie'], 4, 25);
        self::assertSame(array_fill(0, 100, 200), $statuses);
        self::assertSame(102, $this->appGet('/show', $first['cookie'])['json']['n'], 'every increment survived');
    }

    public function testTheDefaultFileHandlerOfAFrameworkBundleAppIgnoresCannon(): void
    {
        // No handler_id in framework.yaml: Symfony 5.4 stores sessions in files even though
        // php.ini says session.save_handler = cannon.
        $this->serveApp('file_default', $this->dsn());
        $first = $this->appGet('/inc');
        $id = $first['json']['id'];
        self::assertSame(2, $this->appGet('/inc', $first['cookie'])['json']['n']);
        self::assertNull($this->stored('redis', $id), 'nothing went to Redis');
        self::assertFileExists("$this->app/var/cache/file_default/sessions/sess_$id");
    }
}

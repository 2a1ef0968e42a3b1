<?php

declare(strict_types=1);

namespace Cannon\Session\Tests;

use Cannon\Session\Adapter;
use Cannon\Session\ConfigException;
use Cannon\Session\ConnectionException;
use Cannon\Session\CorruptDataException;
use Cannon\Session\Session;
use Cannon\Session\SessionException;
use Cannon\Session\Tests\SessionFixtures\RedisFixture;
use Cannon\Session\Tests\Support\FakeServer;
use Cannon\Session\Tests\Support\FreePort;
use Cannon\Session\Tests\Support\PhpProcess;
use PHPUnit\Framework\TestCase;

require_once __DIR__ . '/fixtures/session/RedisFixture.php';

/**
 * The CannonPHP `Cannon\Session\Session` object in the CLI (no cookies here: SessionHttpTest
 * covers them), against the real Redis at Env::redisDsn(), each test on a key prefix of its own.
 * What spans requests runs in child PHP processes.
 */
final class SessionApiTest extends TestCase
{
    use RedisFixture;

    private const ID_RE = '/^[A-Za-z0-9,-]+$/';

    protected function setUp(): void
    {
        $this->setUpRedisFixture();
    }

    protected function tearDown(): void
    {
        // Close what a test left open now, or PHPUnit's own end of request would write it after
        // the keys are gone.
        foreach ($this->sessions as $s) {
            try {
                $s->close();
            } catch (\Throwable) {
            }
        }
        $this->sessions = [];
        $this->tearDownRedisFixture();
    }

    /** @var list<Session> */
    private array $sessions = [];

    private function session(array $extra = []): Session
    {
        return $this->sessions[] = new Session($this->config($extra));
    }

    /** A stored session with $data, made behind the extension's back; returns its id. */
    private function stored(array $data, int $ttl = 600): string
    {
        $id = 'Stored' . bin2hex(random_bytes(12));
        $this->redis()->set($this->key($id), serialize($data), ['EX' => $ttl]);
        return $id;
    }

    // ---- the data property -------------------------------------------------------------------

    public function testDataIsARealArrayPropertyDefaultingToAnEmptyArray(): void
    {
        $p = new \ReflectionProperty(Session::class, 'data');
        self::assertTrue($p->isPublic());
        self::assertFalse($p->isStatic());
        self::assertTrue($p->hasDefaultValue());
        self::assertSame([], $p->getDefaultValue());
        self::assertSame([], $this->session()->data);
    }

    public function testDataTakesEveryKindOfWriteWithoutANotice(): void
    {
        // phpunit.xml.dist turns notices and warnings into errors, so any
        // "Indirect modification of overloaded property" fails this test.
        $s = $this->session();
        $s->start();
        $s->data['666'] = 123;
        $s->data['a']['b'] = 1;
        $s->data['a']['c'][] = 'x';
        $s->data[] = 1;
        $s->data['n'] = 0;
        $s->data['n']++;
        $s->data['n'] += 5;
        $s->data['s'] = 'a';
        $s->data['s'] .= 'b';
        $ref = &$s->data['byref'];
        $ref = 'set through a reference';
        unset($ref);
        $s->data['gone'] = 1;
        unset($s->data['gone']);
        array_push($s->data['a']['c'], 'y');
        self::assertSame([
            666 => 123,
            'a' => ['b' => 1, 'c' => ['x', 'y']],
            667 => 1,
            'n' => 6,
            's' => 'ab',
            'byref' => 'set through a reference',
        ], $s->data);
        self::assertTrue(isset($s->data['a']['b']));
        self::assertFalse(isset($s->data['nope']));

        $s->data = ['replaced' => true];
        self::assertSame(['replaced' => true], $s->data);
        $s->close();
        self::assertSame(serialize(['replaced' => true]), $this->redis()->get($this->key($s->getId())));
    }

    // ---- start() and ids ------------------------------------------------------------------------

    public function testStateBeforeAndAfterStart(): void
    {
        $s = $this->session();
        self::assertNull($s->getId());
        self::assertFalse($s->isStarted());
        self::assertSame('cannon_session', $s->getName());
        $id = $s->start();
        self::assertTrue($s->isStarted());
        self::assertSame($id, $s->getId());
        self::assertSame($id, $s->start(), 'a second start() keeps the session');
        self::assertSame('my_app', $this->session(['session_name' => 'my_app'])->getName());
    }

    /** @return array<string, array{?string}> */
    public static function idsThatStartANewSession(): array
    {
        return [
            'null' => [null],
            'empty' => [''],
            'too short' => ['abc'],
            '21 chars' => [str_repeat('a', 21)],
            'bad chars' => ['abcdefghijklmnopqrstuvwxyz*'],
            'path' => ['../../../../etc/passwd/abcdefghijklmnop'],
            'spaces' => ['abcdefghijkl mnopqrstuvwxyz'],
            'nul' => ["abcdefghijklmnopqrstuvwxyz\0"],
            'not utf-8' => [str_repeat("\xff", 30)],
            '257 chars' => [str_repeat('a', 257)],
            'unknown but well formed' => ['WellFormedButUnknown0123456789'],
        ];
    }

    /** @dataProvider idsThatStartANewSession */
    public function testStartWithoutAUsableIdStartsANewSession(?string $id): void
    {
        $s = $this->session();
        $new = $s->start($id);
        self::assertNotSame($id, $new);
        self::assertMatchesRegularExpression(self::ID_RE, $new);
        self::assertSame([], $s->data);
        self::assertTrue($s->isStarted());
        $s->close();
        self::assertSame([$this->key($new)], $this->redis()->keys($this->prefix . '*'),
            'only the fresh id is ever stored; never the one offered');
    }

    public function testStartWithAKnownIdResumesIt(): void
    {
        $id = $this->stored(['user' => 7, 'cart' => [1, 2]]);
        $s = $this->session();
        self::assertSame($id, $s->start($id));
        self::assertSame(['user' => 7, 'cart' => [1, 2]], $s->data);
        $s->close();
    }

    public function testStartAcrossProcesses(): void
    {
        $config = self::export($this->config());
        $id = self::child(<<<PHP
            \$s = new Cannon\\Session\\Session($config);
            \$s->start();
            \$s->data['visits'] = 1;
            \$s->data['when'] = 1.5;
            echo \$s->getId();
            PHP);
        $out = self::child(<<<PHP
            \$s = new Cannon\\Session\\Session($config);
            echo \$s->start('$id') === '$id' ? 'same ' : 'new ';
            \$s->data['visits']++;
            echo json_encode(\$s->data);
            PHP);
        self::assertSame('same {"visits":2,"when":1.5}', $out);
        self::assertSame(['visits' => 2, 'when' => 1.5], unserialize($this->redis()->get($this->key($id))));
    }

    public function testIdsHaveTheConfiguredLengthAndAlphabetAndAreDistinct(): void
    {
        $ids = [];
        for ($i = 0; $i < 50; $i++) {
            $ids[] = $this->session(['session_cookie' => false])->start();
        }
        self::assertCount(50, array_unique($ids));
        $len = (int) ini_get('session.sid_length');
        foreach ($ids as $id) {
            self::assertMatchesRegularExpression(self::ID_RE, $id);
            self::assertSame($len, strlen($id));
        }
        // Roughly 6 random bits a character: all of the 64 characters show up in 50 ids.
        self::assertSame(64, strlen(count_chars(implode('', $ids), 3)));

        $config = self::export($this->config());
        self::assertSame('48', self::child("echo strlen((new Cannon\\Session\\Session($config))->start());", ['session.sid_length' => '48']));
    }

    // ---- close() --------------------------------------------------------------------------------

    public function testCloseWritesChangedDataWithTheSessionExpiry(): void
    {
        $s = $this->session(['session_expire' => 300]);
        $id = $s->start();
        $s->data['a'] = 1;
        self::assertTrue($s->close());
        self::assertFalse($s->isStarted());
        self::assertSame(serialize(['a' => 1]), $this->redis()->get($this->key($id)));
        $ttl = $this->redis()->ttl($this->key($id));
        self::assertGreaterThan(290, $ttl);
        self::assertLessThanOrEqual(300, $ttl);
        self::assertTrue($s->close(), 'a second close() is harmless');
        self::assertTrue($this->session()->close(), 'close() before start() is harmless');
    }

    public function testCloseOfUnchangedDataOnlyRefreshesTheExpiry(): void
    {
        $id = $this->stored(['a' => 1], 5);
        $s = $this->session(['session_expire' => 300]);
        $s->start($id);
        // Changed behind the session's back: close() of unchanged data must not write its copy.
        $this->redis()->set($this->key($id), serialize(['changed' => 'elsewhere']), ['KEEPTTL']);
        self::assertTrue($s->close());
        self::assertSame(serialize(['changed' => 'elsewhere']), $this->redis()->get($this->key($id)));
        self::assertGreaterThan(290, $this->redis()->ttl($this->key($id)), 'the expiry is refreshed');
    }

    public function testCloseWritesWhenDataChangedBackAndForth(): void
    {
        $id = $this->stored(['a' => 1]);
        $s = $this->session();
        $s->start($id);
        $s->data['a'] = 2;
        $s->data['a'] = 1; // equal to what was read: nothing to write
        $this->redis()->set($this->key($id), serialize(['marker' => 1]), ['KEEPTTL']);
        $s->close();
        self::assertSame(serialize(['marker' => 1]), $this->redis()->get($this->key($id)));

        $s = $this->session();
        $s->start($id);
        $s->data['marker'] = 2;
        $s->close();
        self::assertSame(serialize(['marker' => 2]), $this->redis()->get($this->key($id)));
    }

    public function testChangedDataIsSavedAtTheEndOfTheRequestWithoutClose(): void
    {
        $config = self::export($this->config());
        $id = self::child(<<<PHP
            \$s = new Cannon\\Session\\Session($config);
            \$s->start();
            \$s->data['saved'] = 'at shutdown';
            echo \$s->getId();
            PHP);
        self::assertSame(serialize(['saved' => 'at shutdown']), $this->redis()->get($this->key($id)));
    }

    public function testASessionOutOfScopeIsStillSavedAtTheEndOfTheRequest(): void
    {
        $config = self::export($this->config());
        $id = self::child(<<<PHP
            echo (function () {
                \$s = new Cannon\\Session\\Session($config);
                \$s->start();
                \$s->data['scope'] = 'gone';
                return \$s->getId();
            })();
            gc_collect_cycles();
            PHP);
        self::assertSame(serialize(['scope' => 'gone']), $this->redis()->get($this->key($id)));
    }

    public function testNothingIsWrittenAtTheEndOfTheRequestAfterClose(): void
    {
        $config = self::export($this->config());
        $rc = self::redisConnectCode();
        $id = self::child(<<<PHP
            \$s = new Cannon\\Session\\Session($config);
            \$s->start();
            \$s->data['n'] = 1;
            \$s->close();
            \$s->data['n'] = 2; // after close(): not saved
            $rc
            \$r->set('{$this->prefix}' . \$s->getId(), 'sentinel', ['KEEPTTL']);
            echo \$s->getId();
            PHP);
        self::assertSame('sentinel', $this->redis()->get($this->key($id)), 'written once, by close()');
    }

    public function testNothingIsWrittenAtTheEndOfTheRequestAfterDestroy(): void
    {
        $config = self::export($this->config());
        $id = self::child(<<<PHP
            \$s = new Cannon\\Session\\Session($config);
            \$id = \$s->start();
            \$s->data['n'] = 1;
            \$s->close();
            \$s = new Cannon\\Session\\Session($config);
            \$s->start(\$id);
            \$s->data['n'] = 2;
            \$s->destroy();
            echo \$id;
            PHP);
        self::assertSame(0, $this->redis()->exists($this->key($id)));
    }

    public function testTheEndOfRequestSaveWritesOnceAtMost(): void
    {
        // A private Redis whose command counters only this test moves.
        $srv = FakeServer::startRedis();
        try {
            $config = self::export($this->config(['session_redis_host' => '127.0.0.1', 'session_redis_port' => $srv['port'],
                'session_redis_database' => 0, 'session_redis_password' => null]));
            $r = new \Redis();
            $r->connect('127.0.0.1', $srv['port']);
            $count = static function () use ($r): int {
                $n = 0;
                foreach ($r->info('commandstats') as $cmd => $stats) {
                    if (preg_match('/^cmdstat_(set|setex|psetex|eval|evalsha|expire|pexpire|del|getex)$/', $cmd)) {
                        preg_match('/calls=(\d+)/', $stats, $m);
                        $n += (int) $m[1];
                    }
                }
                return $n;
            };

            // Baseline: start + close() in the script, nothing after.
            $r->rawCommand('CONFIG', 'RESETSTAT');
            $idA = self::child("\$s = new Cannon\\Session\\Session($config); \$s->start(); \$s->data['x'] = 1; \$s->close(); echo \$s->getId();");
            $withClose = $count();

            // Same without close(): the end of the request does what close() did, not more.
            $r->rawCommand('CONFIG', 'RESETSTAT');
            $idB = self::child("\$s = new Cannon\\Session\\Session($config); \$s->start(); \$s->data['x'] = 1; echo \$s->getId();");
            $withoutClose = $count();

            self::assertGreaterThan(0, $withClose);
            self::assertSame($withClose, $withoutClose, 'the shutdown save is one close(), not two');
            self::assertSame(serialize(['x' => 1]), $r->get($this->key($idA)));
            self::assertSame(serialize(['x' => 1]), $r->get($this->key($idB)));
            $r->close();
        } finally {
            FakeServer::stopRedis($srv);
        }
    }

    // ---- destroy(), regenerate(), gc() ------------------------------------------------------

    public function testDestroy(): void
    {
        $id = $this->stored(['a' => 1]);
        $s = $this->session();
        $s->start($id);
        self::assertTrue($s->destroy());
        self::assertSame(0, $this->redis()->exists($this->key($id)));
        self::assertSame([], $s->data);
        self::assertNull($s->getId());
        self::assertFalse($s->isStarted());
        self::assertTrue($s->close());
        self::assertSame([], $this->redis()->keys($this->prefix . '*'), 'nothing left behind, locks included');
        self::assertTrue($this->session()->destroy(), 'destroy() before start() is harmless');

        $new = $s->start();
        self::assertNotSame($id, $new, 'a destroyed session restarts with a fresh id');
        $s->close();
    }

    public function testRegenerateDeletingTheOldSession(): void
    {
        $old = $this->stored(['user' => 1]);
        $s = $this->session();
        $s->start($old);
        $s->data['logged_in'] = true;
        $new = $s->regenerate();
        self::assertMatchesRegularExpression(self::ID_RE, $new);
        self::assertNotSame($old, $new);
        self::assertSame($new, $s->getId());
        self::assertTrue($s->isStarted());
        self::assertSame(['user' => 1, 'logged_in' => true], $s->data, 'the data moves along');
        self::assertSame(0, $this->redis()->exists($this->key($old)));
        $s->close();
        self::assertSame(serialize(['user' => 1, 'logged_in' => true]), $this->redis()->get($this->key($new)));
        self::assertSame([$this->key($new)], $this->redis()->keys($this->prefix . '*'));
    }

    public function testRegenerateKeepingTheOldSession(): void
    {
        $old = $this->stored(['user' => 1]);
        $s = $this->session();
        $s->start($old);
        $s->data['logged_in'] = true;
        $new = $s->regenerate(false);
        self::assertNotSame($old, $new);
        $s->close();
        self::assertSame(serialize(['user' => 1]), $this->redis()->get($this->key($old)), 'the old session as it was');
        self::assertSame(serialize(['user' => 1, 'logged_in' => true]), $this->redis()->get($this->key($new)));

        $s = $this->session();
        $s->start($new);
        self::assertNotSame($new, $s->regenerate(deleteOld: false), 'the named argument works');
        $s->close();
        self::assertSame(1, $this->redis()->exists($this->key($new)));
    }

    public function testRegeneratedIdsAreFreshAndWellFormed(): void
    {
        $s = $this->session();
        $ids = [$s->start()];
        for ($i = 0; $i < 5; $i++) {
            $ids[] = $s->regenerate();
        }
        self::assertCount(6, array_unique($ids));
        foreach ($ids as $id) {
            self::assertMatchesRegularExpression(self::ID_RE, $id);
            self::assertSame((int) ini_get('session.sid_length'), strlen($id));
        }
        $s->close();
    }

    public function testGcReturnsAnInt(): void
    {
        $s = $this->session();
        $s->start();
        self::assertSame(0, $s->gc());
        self::assertSame(0, $s->gc(1));
        self::assertSame(0, $s->gc(null));
        self::assertSame(0, $s->gc(maxLifetime: 60));
        $s->close();
    }

    // ---- serializers ------------------------------------------------------------------------

    public function testPhpSerializerKeepsEveryValueAcrossProcesses(): void
    {
        $config = self::export($this->config());
        $id = self::child(<<<PHP
            \$s = new Cannon\\Session\\Session($config);
            \$s->start();
            \$shared = ['count' => 1];
            \$s->data = [
                'obj' => new ArrayObject(['k' => 'v']),
                'date' => new DateTimeImmutable('2020-01-02 03:04:05 UTC'),
                'float' => 0.1 + 0.2,
                'bin' => "\\0\\xff\\xfe",
                'deep' => ['a' => ['b' => ['c' => [1]]]],
                'r1' => &\$shared,
                'r2' => &\$shared,
            ];
            echo \$s->getId();
            PHP);
        $out = self::child(<<<PHP
            \$s = new Cannon\\Session\\Session($config);
            \$s->start('$id');
            \$d = \$s->data;
            \$d['r1']['count'] = 42;
            echo json_encode([
                get_class(\$d['obj']), \$d['obj']['k'], \$d['date']->format('c'), \$d['float'] === 0.1 + 0.2,
                bin2hex(\$d['bin']), \$d['deep']['a']['b']['c'][0], \$d['r2']['count'],
            ]);
            PHP);
        self::assertSame('["ArrayObject","v","2020-01-02T03:04:05+00:00",true,"00fffe",1,42]', $out);
    }

    public function testJsonSerializer(): void
    {
        $s = $this->session(['session_serializer' => 'json']);
        $id = $s->start();
        $s->data = ['user' => 'ann', 'list' => [1, 2], 'map' => ['x' => 1.5], 'flag' => false, '7' => null];
        $s->close();
        $raw = $this->redis()->get($this->key($id));
        self::assertSame(['user' => 'ann', 'list' => [1, 2], 'map' => ['x' => 1.5], 'flag' => false, '7' => null],
            json_decode($raw, true, 512, JSON_THROW_ON_ERROR));

        $s = $this->session(['session_serializer' => 'json']);
        $s->start($id);
        self::assertSame(['user' => 'ann', 'list' => [1, 2], 'map' => ['x' => 1.5], 'flag' => false, 7 => null], $s->data);
        $s->data['o'] = new \stdClass();
        try {
            $s->close();
            self::fail('an object with serializer=json must throw');
        } catch (SessionException $e) {
            self::assertNotInstanceOf(ConnectionException::class, $e);
        }
        self::assertSame($raw, $this->redis()->get($this->key($id)), 'nothing half-written');
    }

    /** @return array<string, array{string, string}> */
    public static function corruptPayloads(): array
    {
        return [
            'php: garbage' => ['php', "\x00\x01garbage"],
            'php: not an array' => ['php', serialize('a string')],
            'php: truncated' => ['php', substr(serialize(['k' => str_repeat('v', 50)]), 0, 30)],
            'json: garbage' => ['json', 'not json'],
            'json: a number' => ['json', '42'],
        ];
    }

    /** @dataProvider corruptPayloads */
    public function testCorruptStoredDataIsAnExceptionFromStart(string $serializer, string $bytes): void
    {
        $id = 'Corrupt' . bin2hex(random_bytes(12));
        $this->redis()->set($this->key($id), $bytes);
        $config = self::export($this->config(['session_serializer' => $serializer]));
        // In a child: PHP's own unserialize() notice must not decide the outcome, and the end of
        // the request must not overwrite the stored bytes with an empty session.
        $r = PhpProcess::run(<<<PHP
            foreach ([1, 2] as \$attempt) {
                \$s = new Cannon\\Session\\Session($config);
                \$t = microtime(true);
                try {
                    \$s->start('$id');
                    echo "started with ", json_encode(\$s->data), "\\n";
                } catch (Cannon\\Session\\CorruptDataException \$e) {
                    echo get_class(\$e), ' ', \$s->isStarted() ? 'started' : 'not started', ' ', json_encode(\$s->getId()),
                        ' ', (microtime(true) - \$t) < 1 ? 'fast' : 'slow', "\\n";
                }
            }
            PHP);
        self::assertSame(0, $r['exit'], $r['stderr']);
        $line = 'Cannon\Session\CorruptDataException not started null fast';
        self::assertSame("$line\n$line\n", $r['stdout'], 'twice, at once: the first attempt left no lock behind');
        self::assertSame($bytes, $this->redis()->get($this->key($id)), 'the stored bytes are left alone');
    }

    public function testAllowedClassesZero(): void
    {
        $id = $this->stored(['o' => new \ArrayObject([1]), 'd' => new \DateTime('@0'), 'n' => 1]);
        $config = self::export($this->config());
        $out = self::child(
            "\$s = new Cannon\\Session\\Session($config); \$s->start('$id'); echo get_class(\$s->data['o']), ' ', get_class(\$s->data['d']), ' ', \$s->data['n']; \$s->close();",
            ['cannon_session.allowed_classes' => '0']
        );
        self::assertSame('__PHP_Incomplete_Class __PHP_Incomplete_Class 1', $out);
    }

    // ---- configuration ----------------------------------------------------------------------

    public function testDsnStringAndSessionDsnAndEngineAlias(): void
    {
        foreach ([
            'dsn string' => fn () => new Session($this->dsn()),
            'session_dsn' => fn () => new Session(['session_dsn' => $this->dsn(), 'session_prefix' => 'ignored:']),
            'session_engine' => fn () => new Session(['session_engine' => 'redis'] + array_diff_key($this->config(), ['session_driver' => 1])),
        ] as $how => $make) {
            $s = $make();
            $id = $s->start();
            $s->data['how'] = $how;
            $s->close();
            self::assertSame(serialize(['how' => $how]), $this->redis()->get($this->key($id)), $how);
        }
    }

    public function testNullConfigUsesTheDefaultDsnIni(): void
    {
        $out = self::child(
            '$s = new Cannon\Session\Session(); $s->start(); $s->data["ini"] = 1; $s->close(); echo $s->getId();',
            ['cannon_session.default_dsn' => '"' . $this->dsn() . '"']
        );
        self::assertSame(serialize(['ini' => 1]), $this->redis()->get($this->key($out)));
    }

    public function testSessionExpireDefaultsToGcMaxlifetime(): void
    {
        $config = self::export($this->config());
        $id = self::child("\$s = new Cannon\\Session\\Session($config); \$s->start(); \$s->data['a'] = 1; \$s->close(); echo \$s->getId();",
            ['session.gc_maxlifetime' => '555']);
        $ttl = $this->redis()->ttl($this->key($id));
        self::assertGreaterThan(545, $ttl);
        self::assertLessThanOrEqual(555, $ttl);
    }

    public function testFromConfig(): void
    {
        $consts = '';
        foreach ($this->config(['session_name' => 'from_consts', 'session_expire' => 200]) as $k => $v) {
            $consts .= "const $k = " . self::export($v) . ";\n";
        }
        $cls = 'SessionApiTestConfig' . bin2hex(random_bytes(4));
        eval("namespace Cannon\\Session\\Tests; final class $cls { $consts }");
        $s = Session::fromConfig(__NAMESPACE__ . '\\' . $cls);
        self::assertInstanceOf(Session::class, $s);
        self::assertSame('from_consts', $s->getName());
        self::assertFalse($s->isStarted(), 'no session_autostart: not started');
        $id = $s->start();
        $s->data['x'] = 1;
        $s->close();
        self::assertGreaterThan(190, $this->redis()->ttl($this->key($id)));

        $auto = 'SessionApiTestAuto' . bin2hex(random_bytes(4));
        eval("namespace Cannon\\Session\\Tests; final class $auto { $consts const session_autostart = true; }");
        $s = Session::fromConfig(__NAMESPACE__ . '\\' . $auto);
        self::assertTrue($s->isStarted());
        self::assertMatchesRegularExpression(self::ID_RE, (string) $s->getId());
        $s->close();

        try {
            Session::fromConfig('No\\Such\\ConfigClass');
            self::fail('a missing config class must throw');
        } catch (ConfigException $e) {
            self::assertStringContainsString('ConfigClass', $e->getMessage());
        }
    }

    /** @return array<string, array{array<string, mixed>}> */
    public static function badConfigs(): array
    {
        return [
            'unknown driver' => [['session_driver' => 'mongo']],
            'unknown engine' => [['session_engine' => 'memcached']],
            'port too big' => [['session_redis_port' => 99999]],
            'port not a number' => [['session_redis_port' => 'abc']],
            'port zero' => [['session_redis_port' => 0]],
            'database not a number' => [['session_redis_database' => 'x']],
            'expire zero' => [['session_expire' => 0]],
            'expire negative' => [['session_expire' => -1]],
            'expire words' => [['session_expire' => 'a day']],
            'serializer' => [['session_serializer' => 'igbinary']],
            'cookie name' => [['session_name' => 'has space']],
            'cookie name with =' => [['session_name' => 'a=b']],
            'array value' => [['session_redis_host' => ['x']]],
            'dsn scheme' => [['session_dsn' => 'memcached://127.0.0.1']],
            'dsn option' => [['session_dsn' => 'redis://127.0.0.1/0?nope=1']],
        ];
    }

    /** @dataProvider badConfigs */
    public function testBadConfigIsAConfigException(array $bad): void
    {
        $bad += ['session_redis_password' => 'Sup3rS3cretPw'];
        try {
            new Session($bad);
            self::fail('config accepted: ' . json_encode($bad));
        } catch (ConfigException $e) {
            self::assertStringNotContainsString('Sup3rS3cretPw', $e->getMessage());
        }
    }

    public function testConstructorArgumentTypes(): void
    {
        foreach ([42, 1.5, true, new \stdClass()] as $bad) {
            try {
                new Session($bad);
                self::fail('accepted a ' . get_debug_type($bad));
            } catch (ConfigException | \TypeError) {
                $this->addToAssertionCount(1);
            }
        }
    }

    public function testTheConstructorDoesNotConnect(): void
    {
        $port = FreePort::get();
        $t = microtime(true);
        new Session($this->config(['session_redis_port' => $port]));
        new Session(['session_driver' => 'database', 'host' => '127.0.0.1', 'port' => $port, 'username' => 'u',
            'password' => 'p', 'dbname' => 'd']);
        self::assertLessThan(0.5, microtime(true) - $t);
    }

    // ---- failures -----------------------------------------------------------------------------

    public function testUnreachableRedisIsAConnectionExceptionAtOnce(): void
    {
        $port = FreePort::get();
        foreach (['redis' => $this->config(['session_redis_port' => $port, 'session_redis_password' => 'Sup3rS3cretPw']),
            'database' => ['session_driver' => 'database', 'host' => '127.0.0.1', 'port' => $port, 'username' => 'u',
                'password' => 'Sup3rS3cretPw', 'dbname' => 'd']] as $driver => $config) {
            $s = new Session($config);
            $t = microtime(true);
            try {
                $s->start();
                self::fail("start() with an unreachable $driver must throw");
            } catch (ConnectionException $e) {
                self::assertLessThan(1.5, microtime(true) - $t, $driver);
                self::assertStringNotContainsString('Sup3rS3cretPw', $e->getMessage());
            }
            self::assertFalse($s->isStarted());
            try {
                $s->adapter->read('WellFormedSessionId0123456789');
                self::fail("adapter->read() with an unreachable $driver must throw");
            } catch (ConnectionException $e) {
                self::assertStringNotContainsString('Sup3rS3cretPw', $e->getMessage());
            }
        }
    }

    public function testHangingRedisTimesOut(): void
    {
        $hang = FakeServer::hangingTcp(60);
        try {
            $s = new Session($this->config(['session_redis_port' => $hang['port'], 'session_timeout' => '0.5',
                'session_connect_timeout' => '0.5']));
            $t = microtime(true);
            try {
                $s->start();
                self::fail('start() against a server that never answers must throw');
            } catch (ConnectionException) {
                self::assertLessThan(3.0, microtime(true) - $t);
            }
        } finally {
            FakeServer::stop($hang['pid']);
        }
    }

    public function testAFailedStartLeavesNothingForTheEndOfTheRequest(): void
    {
        $port = FreePort::get();
        $config = self::export($this->config(['session_redis_port' => $port]));
        $r = PhpProcess::run(<<<PHP
            \$s = new Cannon\\Session\\Session($config);
            try { \$s->start(); } catch (Cannon\\Session\\ConnectionException \$e) { echo 'caught'; }
            PHP);
        self::assertSame('caught', $r['stdout']);
        self::assertSame('', $r['stderr'], 'no warning or fatal error at the end of the request');
        self::assertSame(0, $r['exit']);
    }

    /** PHP source that connects a php-redis client `$r` to the test Redis. */
    private static function redisConnectCode(): string
    {
        $p = self::redisUrl();
        $auth = $p['pass'] === null ? '' : '$r->auth(' . self::export($p['user'] !== null ? [$p['user'], $p['pass']] : $p['pass']) . ');';
        return "\$r = new Redis(); \$r->connect('{$p['host']}', {$p['port']}); $auth \$r->select({$p['db']});";
    }
}

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
use PHPUnit\Framework\TestCase;

require_once __DIR__ . '/fixtures/session/RedisFixture.php';

/** A user class for the serializer round trips (objects must survive serializer=php). */
final class AdapterTestPoint
{
    public function __construct(public int $x = 0, public ?AdapterTestPoint $next = null, private string $secret = 's')
    {
    }

    public function secret(): string
    {
        return $this->secret;
    }
}

/**
 * Cannon\Session\Adapter: CannonPHP's read/write/destroy/gc by session id, against the real Redis
 * at Env::redisDsn(), on a key prefix of its own per test.
 */
final class AdapterTest extends TestCase
{
    use RedisFixture;

    private const ID = 'AdapterTestId0123456789abcdef';

    protected function setUp(): void
    {
        $this->setUpRedisFixture();
    }

    protected function tearDown(): void
    {
        $this->tearDownRedisFixture();
    }

    private function adapter(array $options = []): Adapter
    {
        return new Adapter($this->dsn($options));
    }

    // ---- the seed's example ----------------------------------------------------------------

    public function testSeedExampleAcrossTwoProcesses(): void
    {
        $config = self::export($this->config());
        $id = self::child(<<<PHP
            \$s = new Cannon\\Session\\Session($config);
            \$s->start();
            \$s->data['666'] = 123;
            \$s->adapter->write(\$s->getId(), \$s->data);
            echo \$s->getId();
            PHP);
        self::assertMatchesRegularExpression('/^[A-Za-z0-9,-]{22,256}$/', $id);

        $out = self::child(<<<PHP
            var_export((new Cannon\\Session\\Session($config))->adapter->read('$id'));
            PHP);
        self::assertSame(var_export([666 => 123], true), $out);

        // And in this process, strictly: the key '666' is the integer 666.
        self::assertSame([666 => 123], (new Session($this->config()))->adapter->read($id));
    }

    public function testSeedExampleWithFromConfigAcrossTwoProcesses(): void
    {
        $consts = '';
        foreach ($this->config(['session_driver' => 'redis', 'session_autostart' => true]) as $k => $v) {
            $consts .= "    const $k = " . self::export($v) . ";\n";
        }
        $configClass = "namespace App { class Config {\n$consts} }\n";

        $id = self::child($configClass . <<<'PHP'
            namespace {
                $session = Cannon\Session\Session::fromConfig('App\\Config');
                if (!$session->isStarted()) { echo "not started"; exit(1); }
                $session->data['666'] = 123;
                $session->adapter->write($session->getId(), $session->data);
                echo $session->getId();
            }
            PHP);
        self::assertMatchesRegularExpression('/^[A-Za-z0-9,-]{22,256}$/', $id);

        $out = self::child($configClass . <<<PHP
            namespace {
                // no argument: App\\Config
                echo json_encode(Cannon\\Session\\Session::fromConfig()->adapter->read('$id'));
            }
            PHP);
        self::assertSame('{"666":123}', $out);
        self::assertSame([666 => 123], $this->adapter()->read($id));
    }

    // ---- read / write / destroy / gc ---------------------------------------------------------

    public function testReadOfAMissingSessionIsAnEmptyArray(): void
    {
        self::assertSame([], $this->adapter()->read(self::ID));
        self::assertSame(0, $this->redis()->exists($this->key(self::ID)), 'read() must not create the session');
    }

    public function testWriteThenReadInTheSameProcessAndFromAnotherAdapter(): void
    {
        $a = $this->adapter();
        self::assertTrue($a->write(self::ID, ['user' => 42, 'roles' => ['admin', 'dev']]));
        self::assertSame(['user' => 42, 'roles' => ['admin', 'dev']], $a->read(self::ID));
        self::assertSame(['user' => 42, 'roles' => ['admin', 'dev']], $this->adapter()->read(self::ID));

        // write() replaces the whole array.
        self::assertTrue($a->write(self::ID, ['other' => true]));
        self::assertSame(['other' => true], $this->adapter()->read(self::ID));
        self::assertTrue($a->write(self::ID, []));
        self::assertSame([], $a->read(self::ID));
    }

    public function testTheSessionsAdapterUsesTheSessionsBackendAndPrefix(): void
    {
        $s = new Session($this->config());
        self::assertInstanceOf(Adapter::class, $s->adapter);
        self::assertTrue($s->adapter->write(self::ID, ['via' => 'session']));
        self::assertSame(serialize(['via' => 'session']), $this->redis()->get($this->key(self::ID)));
        self::assertSame(['via' => 'session'], $this->adapter()->read(self::ID));
    }

    public function testTheAdapterPropertyIsReadOnly(): void
    {
        $s = new Session($this->config());
        $before = $s->adapter;
        try {
            $s->adapter = new Adapter($this->dsn());
            self::fail('assigning $session->adapter must fail');
        } catch (\Throwable) {
            // refused: what we want (the exact class is ext-php-rs's choice)
        }
        self::assertInstanceOf(Adapter::class, $s->adapter);
        $before->write(self::ID, ['still' => 'shared']);
        self::assertSame(['still' => 'shared'], $s->adapter->read(self::ID));
    }

    public function testWriteExpiresAfterSessionExpire(): void
    {
        $s = new Session($this->config(['session_expire' => 120]));
        $s->adapter->write(self::ID, ['a' => 1]);
        $ttl = $this->redis()->ttl($this->key(self::ID));
        self::assertGreaterThan(110, $ttl);
        self::assertLessThanOrEqual(120, $ttl);
    }

    public function testAStandaloneAdapterExpiresAfterGcMaxlifetime(): void
    {
        $dsn = self::export($this->dsn());
        $id = self::ID;
        self::child("(new Cannon\\Session\\Adapter($dsn))->write('$id', ['a' => 1]);", ['session.gc_maxlifetime' => '777']);
        $ttl = $this->redis()->ttl($this->key(self::ID));
        self::assertGreaterThan(767, $ttl);
        self::assertLessThanOrEqual(777, $ttl);
    }

    public function testAnExpiredSessionReadsAsEmpty(): void
    {
        $a = $this->adapter();
        $a->write(self::ID, ['a' => 1]);
        $this->redis()->pexpire($this->key(self::ID), 1);
        usleep(20000);
        self::assertSame([], $a->read(self::ID));
    }

    public function testDestroy(): void
    {
        $a = $this->adapter();
        $a->write(self::ID, ['a' => 1]);
        self::assertTrue($a->destroy(self::ID));
        self::assertSame(0, $this->redis()->exists($this->key(self::ID)));
        self::assertSame([], $a->read(self::ID));
        self::assertTrue($a->destroy(self::ID), 'destroying a missing session is not an error');
    }

    public function testGcReturnsAnInt(): void
    {
        $a = $this->adapter();
        $a->write(self::ID, ['a' => 1]);
        self::assertSame(0, $a->gc(1), 'Redis expires keys by itself');
        self::assertSame(0, $a->gc(0));
        self::assertSame(['a' => 1], $a->read(self::ID), 'gc() must not delete a live session');
    }

    public function testNamedArguments(): void
    {
        $a = $this->adapter();
        self::assertTrue($a->write(id: self::ID, data: ['n' => 1]));
        self::assertSame(['n' => 1], $a->read(id: self::ID));
        self::assertSame(0, $a->gc(maxLifetime: 10));
        self::assertTrue($a->destroy(id: self::ID));
    }

    /** @return array<string, array{string}> */
    public static function hostileIds(): array
    {
        return [
            'empty' => [''],
            'path' => ['../../etc/passwd'],
            'glob' => ['*'],
            'nul' => ["abc\0def"],
            'space' => ['abc def'],
            'colon' => ['a:b'],
            'not utf-8' => ["\xff\xfe\xfd"],
            'utf-8' => ['sessionidé'],
            'crlf' => ["a\r\nFLUSHALL\r\n"],
            '257 chars' => [str_repeat('a', 257)],
        ];
    }

    /** @dataProvider hostileIds */
    public function testHostileIdsAreNeverUsedAsKeys(string $id): void
    {
        $a = $this->adapter();
        foreach ([
            'read' => fn () => $a->read($id),
            'write' => fn () => $a->write($id, ['x' => 1]),
            'destroy' => fn () => $a->destroy($id),
        ] as $what => $call) {
            try {
                $call();
                self::fail("$what() accepted a hostile id");
            } catch (SessionException $e) {
                self::assertStringNotContainsString("\0", $e->getMessage());
            }
        }
        self::assertSame([], $this->redis()->keys($this->prefix . '*'));
    }

    public function testLongestAllowedIdWorks(): void
    {
        $id = str_repeat('a,-Z9', 51) . 'q'; // 256 characters
        $a = $this->adapter();
        self::assertTrue($a->write($id, ['ok' => 1]));
        self::assertSame(['ok' => 1], $a->read($id));
    }

    // ---- serializers ---------------------------------------------------------------------------

    public function testPhpSerializerIsTheDefaultAndStoresSerializeBytes(): void
    {
        $data = ['a' => 1, 'b' => [1.5, 'x'], 7 => null];
        $this->adapter()->write(self::ID, $data);
        self::assertSame(serialize($data), $this->redis()->get($this->key(self::ID)));
    }

    public function testPhpSerializerKeepsEveryKindOfValue(): void
    {
        $shared = ['s' => 1];
        $point = new AdapterTestPoint(3, new AdapterTestPoint(4), 'hidden');
        $data = [
            'int' => PHP_INT_MAX,
            'neg' => PHP_INT_MIN,
            'float' => 0.1 + 0.2,
            'negzero' => -0.0,
            'inf' => INF,
            'tiny' => 5e-324,
            'true' => true,
            'false' => false,
            'null' => null,
            'binary' => "\0\x01\xff\xfe bytes \r\n",
            'utf8' => "h\u{e9}llo \u{1F600}",
            'nested' => ['a' => ['b' => ['c' => ['d' => [1, 2, 3]]]]],
            'object' => $point,
            'std' => (object) ['k' => 'v'],
            'arrayobject' => new \ArrayObject([1, 2]),
            'datetime' => new \DateTimeImmutable('2024-02-29 12:34:56.789 UTC'),
            '123' => 'int-like key',
            '' => 'empty key',
            'big' => str_repeat("\xab", 1 << 20),
            'ref1' => &$shared,
            'ref2' => &$shared,
        ];
        $this->adapter()->write(self::ID, $data);
        $back = $this->adapter()->read(self::ID);

        self::assertSame(array_keys($data), array_keys($back));
        foreach (['int', 'neg', 'float', 'inf', 'tiny', 'true', 'false', 'null', 'binary', 'utf8', 'nested', '123', '', 'big'] as $k) {
            self::assertSame($data[$k], $back[$k], "value at [$k]");
        }
        self::assertSame(-INF, fdiv(1, $back['negzero']), '-0.0 keeps its sign');
        self::assertInstanceOf(AdapterTestPoint::class, $back['object']);
        self::assertSame(3, $back['object']->x);
        self::assertSame(4, $back['object']->next->x);
        self::assertSame('hidden', $back['object']->secret());
        self::assertEquals((object) ['k' => 'v'], $back['std']);
        self::assertEquals(new \ArrayObject([1, 2]), $back['arrayobject']);
        self::assertEquals($data['datetime'], $back['datetime']);
        self::assertSame([123], array_values(array_filter(array_keys($back), 'is_int')), "the key '123' is the integer 123");

        // The two references still point at one value.
        $back['ref1']['s'] = 99;
        self::assertSame(99, $back['ref2']['s']);
    }

    public function testJsonSerializerStoresJson(): void
    {
        $a = $this->adapter(['serializer' => 'json']);
        $data = ['user' => 'ann', 'n' => 3, 'f' => 1.25, 'ok' => true, 'none' => null, 'list' => [1, 2], 'map' => ['k' => 'v'], 'é' => "\u{1F600}"];
        self::assertTrue($a->write(self::ID, $data));
        $raw = $this->redis()->get($this->key(self::ID));
        self::assertSame($data, json_decode($raw, true, 512, JSON_THROW_ON_ERROR));
        self::assertSame($data, $a->read(self::ID));
    }

    public function testJsonSerializerFromTheSessionConfig(): void
    {
        $s = new Session($this->config(['session_serializer' => 'json']));
        $s->adapter->write(self::ID, ['666' => 123]);
        self::assertSame('{"666":123}', $this->redis()->get($this->key(self::ID)));
        self::assertSame([666 => 123], $s->adapter->read(self::ID));
    }

    public function testJsonSerializerFromTheIniSetting(): void
    {
        $dsn = self::export($this->dsn());
        $id = self::ID;
        self::child("(new Cannon\\Session\\Adapter($dsn))->write('$id', ['k' => [1, 2]]);", ['cannon_session.serializer' => 'json']);
        self::assertSame('{"k":[1,2]}', $this->redis()->get($this->key(self::ID)));
    }

    public function testJsonSerializerRefusesObjectsAndBinaryWithoutWriting(): void
    {
        $a = $this->adapter(['serializer' => 'json']);
        foreach ([
            'object' => ['o' => new \stdClass()],
            'nested object' => ['a' => ['b' => new \ArrayObject()]],
            'binary' => ['bin' => "\xff\xfe"],
        ] as $case => $data) {
            try {
                $a->write(self::ID, $data);
                self::fail("json write of $case must throw");
            } catch (SessionException $e) {
                self::assertNotInstanceOf(ConnectionException::class, $e, $case);
            }
            self::assertSame(0, $this->redis()->exists($this->key(self::ID)), "nothing is written for $case");
        }
    }

    /** @return array<string, array{string, string}> */
    public static function corruptPayloads(): array
    {
        return [
            'garbage / php' => ['php', 'garbage'],
            'truncated / php' => ['php', substr(serialize(['a' => str_repeat('x', 100)]), 0, 40)],
            'a string / php' => ['php', serialize('abc')],
            'false / php' => ['php', serialize(false)],
            'an object / php' => ['php', serialize(new \ArrayObject([1]))],
            'json / php' => ['php', '{"a":1}'],
            'garbage / json' => ['json', 'garbage'],
            'a scalar / json' => ['json', '"abc"'],
            'truncated / json' => ['json', '{"a":[1,2'],
            'php / json' => ['json', serialize(['a' => 1])],
            'binary / json' => ['json', "\xff\xfe{}"],
        ];
    }

    /** @dataProvider corruptPayloads */
    public function testCorruptStoredDataIsACorruptDataException(string $serializer, string $bytes): void
    {
        $this->redis()->set($this->key(self::ID), $bytes);
        $a = $this->adapter(['serializer' => $serializer]);
        try {
            $back = $a->read(self::ID);
            self::fail('read() of corrupt data returned ' . var_export($back, true));
        } catch (CorruptDataException $e) {
            self::assertStringNotContainsString($bytes, $e->getMessage(), 'the stored bytes are not echoed');
        }
        self::assertSame($bytes, $this->redis()->get($this->key(self::ID)), 'read() leaves the stored bytes alone');
    }

    public function testCorruptDataRaisesNoPhpNoticeBesidesTheException(): void
    {
        $this->redis()->set($this->key(self::ID), 'garbage');
        $dsn = self::export($this->dsn());
        $id = self::ID;
        $r = \Cannon\Session\Tests\Support\PhpProcess::run(<<<PHP
            try { (new Cannon\\Session\\Adapter($dsn))->read('$id'); echo 'no exception'; }
            catch (Cannon\\Session\\CorruptDataException \$e) { echo 'corrupt'; }
            PHP);
        self::assertSame('corrupt', $r['stdout']);
        self::assertSame('', $r['stderr'], 'only the exception reports corrupt data');
    }

    public function testAllowedClassesZeroGivesIncompleteClasses(): void
    {
        $this->adapter()->write(self::ID, ['o' => new \ArrayObject([1]), 'n' => 5]);
        $dsn = self::export($this->dsn());
        $id = self::ID;
        $code = "\$d = (new Cannon\\Session\\Adapter($dsn))->read('$id'); echo get_class(\$d['o']), ' ', \$d['n'];";
        self::assertSame('__PHP_Incomplete_Class 5', self::child($code, ['cannon_session.allowed_classes' => '0']));
        self::assertSame('ArrayObject 5', self::child($code, ['cannon_session.allowed_classes' => '1']));
        self::assertSame('ArrayObject 5', self::child($code, ['cannon_session.allowed_classes' => 'stdClass,ArrayObject']));
        self::assertSame('__PHP_Incomplete_Class 5', self::child($code, ['cannon_session.allowed_classes' => 'stdClass']));
    }

    // ---- failures ------------------------------------------------------------------------------

    public function testUnreachableRedisIsAConnectionExceptionAtOnce(): void
    {
        $port = FreePort::get();
        $a = new Adapter("redis://:Sup3rS3cretPw@127.0.0.1:$port/0");
        foreach (['read' => fn () => $a->read(self::ID), 'write' => fn () => $a->write(self::ID, ['a' => 1]),
            'destroy' => fn () => $a->destroy(self::ID)] as $what => $call) {
            $t = microtime(true);
            try {
                $call();
                self::fail("$what() against a closed port must throw");
            } catch (ConnectionException $e) {
                self::assertLessThan(1.5, microtime(true) - $t, "$what() gives up at once on a refused connection");
                self::assertStringNotContainsString('Sup3rS3cretPw', $e->getMessage());
            }
        }
    }

    public function testHangingRedisTimesOut(): void
    {
        $hang = FakeServer::hangingTcp(60);
        try {
            $a = new Adapter("redis://127.0.0.1:{$hang['port']}/0?connect_timeout=0.5&timeout=0.5");
            $t = microtime(true);
            try {
                $a->read(self::ID);
                self::fail('read() from a server that never answers must throw');
            } catch (ConnectionException $e) {
                $elapsed = microtime(true) - $t;
                self::assertLessThan(3.0, $elapsed, 'read() gives up after its timeout');
            }
        } finally {
            FakeServer::stop($hang['pid']);
        }
    }

    /** @return array<string, array{string}> */
    public static function badDsns(): array
    {
        return [
            'unknown scheme' => ['mongodb://127.0.0.1/0'],
            'bad port' => ['redis://127.0.0.1:99999/0'],
            'port not a number' => ['redis://127.0.0.1:abc/0'],
            'unknown option' => ['redis://127.0.0.1/0?bogus=1'],
            'bad serializer' => ['redis://127.0.0.1/0?serializer=xml'],
            'not a DSN' => ['just words'],
        ];
    }

    /** @dataProvider badDsns */
    public function testBadDsnIsAConfigException(string $dsn): void
    {
        $this->expectException(ConfigException::class);
        new Adapter($dsn);
    }

    public function testBadDsnMessagesNeverShowThePassword(): void
    {
        foreach (['redis://:Sup3rS3cretPw@127.0.0.1:99999/0', 'redis://u:Sup3rS3cretPw@127.0.0.1/0?bogus=1',
            'redis://:Sup3rS3cretPw@127.0.0.1/zz'] as $dsn) {
            try {
                new Adapter($dsn);
                self::fail("$dsn must be refused");
            } catch (ConfigException $e) {
                self::assertStringNotContainsString('Sup3rS3cretPw', $e->getMessage());
            }
        }
    }

    public function testExceptionHierarchy(): void
    {
        self::assertTrue(is_subclass_of(SessionException::class, \RuntimeException::class));
        foreach ([ConfigException::class, ConnectionException::class, CorruptDataException::class,
            \Cannon\Session\LockTimeoutException::class] as $class) {
            self::assertTrue(is_subclass_of($class, SessionException::class), $class);
            $e = new $class('m', 7);
            self::assertSame('m', $e->getMessage());
            self::assertSame(7, $e->getCode());
        }
    }
}

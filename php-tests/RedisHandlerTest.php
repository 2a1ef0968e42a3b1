<?php

declare(strict_types=1);

namespace Cannon\Session\Tests;

use Cannon\Session\RedisHandler;
use Cannon\Session\SessionException;
use Cannon\Session\Tests\Fixtures\SessionChild;
use Cannon\Session\Tests\Fixtures\SessionHandlerContract;
use Cannon\Session\Tests\Support\Env;

require_once __DIR__ . '/fixtures/SessionHandlerContract.php';

/**
 * Cannon\Session\RedisHandler through session_set_save_handler($h, true): PHP's session semantics,
 * across processes, against the real Redis (the shared tests are in SessionHandlerContract), plus
 * the class's own surface, called directly.
 */
final class RedisHandlerTest extends SessionHandlerContract
{
    protected function mode(): string
    {
        return SessionChild::CLASS_API;
    }

    public function testItImplementsPhpsSessionInterfaces(): void
    {
        $h = new RedisHandler($this->dsn());
        $this->assertInstanceOf(\SessionHandlerInterface::class, $h);
        $this->assertInstanceOf(\SessionUpdateTimestampHandlerInterface::class, $h);
        $this->assertInstanceOf(\SessionIdInterface::class, $h);
        $this->assertTrue(method_exists($h, 'create_sid'), 'create_sid keeps its snake_case name');
        $this->assertTrue(is_subclass_of(\Cannon\Session\ConnectionException::class, SessionException::class));
        $this->assertTrue(is_subclass_of(SessionException::class, \RuntimeException::class));
    }

    public function testDirectCallsReadWriteDestroyAndRefresh(): void
    {
        $h = new RedisHandler($this->dsn(['lock' => 0]));
        $this->assertTrue($h->open('', 'PHPSESSID'));
        $id = $h->create_sid();
        $this->assertMatchesRegularExpression('/^[A-Za-z0-9,-]{' . ini_get('session.sid_length') . '}$/', $id);
        $this->assertFalse($h->validateId($id), 'a fresh id names no session yet');
        $this->assertSame('', $h->read($id), 'a missing session reads as an empty string');

        $payload = "a|s:3:\"\x00\xFF\x01\";";
        $this->assertTrue($h->write($id, $payload));
        $this->assertSame($payload, $this->probe->get($this->key($id)));
        $this->assertTrue($h->validateId($id));
        $this->assertSame($payload, $h->read($id));

        // Without the lock, the read refreshed the expiry already (GETEX): lazy write has nothing
        // left to send. A handler that did not read this session refreshes it itself.
        $this->assertEqualsWithDelta((int) ini_get('session.gc_maxlifetime'), $this->probe->ttl($this->key($id)), 5);
        $this->probe->redis()->expire($this->key($id), 10);
        $other = new RedisHandler($this->dsn(['lock' => 0]));
        $this->assertTrue($other->updateTimestamp($id, $payload));
        $this->assertEqualsWithDelta((int) ini_get('session.gc_maxlifetime'), $this->probe->ttl($this->key($id)), 5);

        $this->assertSame(0, $h->gc(1440));
        $this->assertTrue($h->destroy($id));
        $this->assertFalse($this->probe->exists($this->key($id)));
        $this->assertTrue($h->close());
    }

    /** @dataProvider hostileIdsOnly */
    public function testHostileIdsAreRefusedByValidateIdAndRead(string $hostile): void
    {
        $h = new RedisHandler($this->dsn());
        $this->assertFalse($h->validateId($hostile));
        try {
            $h->read($hostile);
            $this->fail('read() of a hostile id must throw');
        } catch (SessionException $e) {
            $this->assertStringContainsString('invalid session id', $e->getMessage());
        }
        $this->assertSame([], $this->probe->keys($this->prefix), 'nothing reached Redis');
    }

    public function hostileIdsOnly(): array
    {
        $out = [];
        foreach ($this->hostileIds() as $name => [$id, $strict]) {
            if (!$strict) {
                $out[substr($name, 0, -strlen(', strict off'))] = [$id];
            }
        }
        $out['empty'] = [''];
        return $out;
    }

    public function testOptionsArraysWork(): void
    {
        $p = Env::redisParts();
        $variants = [
            'dsn + options' => ['dsn' => Env::redisDsn(), 'prefix' => $this->prefix, 'timeout' => 2, 'lock' => false],
            'parts' => ['host' => $p['host'], 'port' => $p['port'], 'database' => $p['db'], 'prefix' => $this->prefix, 'connect_timeout' => 0.5],
        ];
        foreach ($variants as $name => $options) {
            $h = new RedisHandler($options);
            $id = 'opts' . bin2hex(random_bytes(10));
            $this->assertTrue($h->write($id, 'v|i:1;'), $name);
            $this->assertSame('v|i:1;', $this->probe->get($this->key($id)), "$name: stored under the prefix");
            $h->close();
        }
    }

    public function testRoundTripsCountsBackendCalls(): void
    {
        $h = new RedisHandler($this->dsn(['lock' => 0]));
        $id = 'rt' . bin2hex(random_bytes(10));
        $h->write($id, 'x|i:1;');
        $before = $h->roundTrips();
        $h->read($id);
        $h->write($id, 'x|i:2;');
        $this->assertSame(2, $h->roundTrips() - $before, 'unlocked read + write = 2 round trips');
    }
}

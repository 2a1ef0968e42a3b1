<?php

declare(strict_types=1);

namespace Cannon\Session\Laravel;

use Cannon\Session\DatabaseHandler;
use Cannon\Session\RedisHandler;
use Illuminate\Session\SessionManager;
use Illuminate\Support\ServiceProvider;

/**
 * Registers the `cannon` session driver: Laravel's session Store on top of the cannon_session
 * extension's RedisHandler or DatabaseHandler, chosen by the DSN's scheme.
 *
 * config/session.php:
 *
 *     'driver'     => env('SESSION_DRIVER', 'cannon'),
 *     'cannon_dsn' => env('CANNON_SESSION_DSN'),   // null: the cannon_session.default_dsn INI
 *     'lifetime'   => env('SESSION_LIFETIME', 120), // minutes: also the expiry in the store
 *
 * Laravel calls the handler's read() when the session starts and write() when StartSession saves
 * it at the end of the request, never open() or close(): with locking (the default), read()
 * takes the session's lock and write() releases it. A request that ends without saving (exit, a
 * fatal error) has its lock released by the extension at the end of the request.
 */
class CannonSessionServiceProvider extends ServiceProvider
{
    public const DRIVER = 'cannon';

    public function register(): void
    {
        $this->callAfterResolving('session', static function (SessionManager $manager): void {
            $manager->extend(self::DRIVER, static function ($app): \SessionHandlerInterface {
                $config = $app['config'];
                self::applyLifetime($config->get('session.lifetime'));
                return self::createHandler($config->get('session.cannon_dsn'));
            });
        });
    }

    /**
     * The extension's handler for a DSN: RedisHandler for redis://, rediss:// and redis+unix://,
     * DatabaseHandler for mysql:// (or mariadb://). Null or '' takes cannon_session.default_dsn.
     */
    public static function createHandler(?string $dsn = null): \SessionHandlerInterface
    {
        if (!extension_loaded('cannon_session')) {
            throw new \RuntimeException(
                'the cannon session driver needs the cannon_session PHP extension: add extension=cannon_session.so to php.ini'
            );
        }
        if ($dsn === null || trim($dsn) === '') {
            $dsn = (string) ini_get('cannon_session.default_dsn');
            if (trim($dsn) === '') {
                throw new \InvalidArgumentException(
                    'the cannon session driver has no DSN: set session.cannon_dsn (CANNON_SESSION_DSN) or the cannon_session.default_dsn INI setting'
                );
            }
        }
        $scheme = strtolower(trim((string) strstr($dsn, '://', true)));
        switch ($scheme) {
            case 'redis':
            case 'rediss':
            case 'redis+unix':
            case 'tcp':
            case 'tls':
            case 'unix':
                return new RedisHandler($dsn);
            case 'mysql':
            case 'mariadb':
                return new DatabaseHandler($dsn);
        }
        // Only the scheme is named: the rest of a DSN may hold a password.
        throw new \InvalidArgumentException(sprintf(
            'the cannon session driver does not know the DSN scheme "%s": use redis://, rediss://, redis+unix:// or mysql://',
            substr($scheme, 0, 32)
        ));
    }

    /**
     * Makes Laravel's session.lifetime (minutes) the expiry the handler gives each session: the
     * extension's handlers store a session for session.gc_maxlifetime seconds. Null keeps php.ini's.
     */
    public static function applyLifetime(int|float|string|null $minutes): void
    {
        if ($minutes === null || $minutes === '') {
            return;
        }
        if (!is_numeric($minutes) || (float) $minutes <= 0) {
            throw new \InvalidArgumentException('session.lifetime must be a positive number of minutes');
        }
        $seconds = (string) max(1, (int) round((float) $minutes * 60));
        if (ini_get('session.gc_maxlifetime') === $seconds) {
            return;
        }
        // PHP refuses session.* changes while a native session is active or after headers went out.
        if (@ini_set('session.gc_maxlifetime', $seconds) === false) {
            throw new \RuntimeException(sprintf(
                'the cannon session driver could not set session.gc_maxlifetime to %s s (session.lifetime = %s min): '
                . 'PHP refuses it while a native session is active or once output has started; set it in php.ini instead',
                $seconds,
                $minutes
            ));
        }
    }
}

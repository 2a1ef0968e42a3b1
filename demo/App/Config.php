<?php

namespace App;

/**
 * Application configuration, CannonPHP style: one class constant per setting.
 * \Cannon\Session\Session::fromConfig('App\Config') reads the session_* constants.
 */
class Config
{
    const session_driver = 'redis';
    const session_redis_host = '127.0.0.1';
    const session_redis_port = 6379;
    const session_redis_database = 0;
    const session_expire = 1440;
    const session_name = 'cannon_session';
    const session_prefix = 'cannon_demo:';
}

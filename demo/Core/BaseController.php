<?php

namespace Core;

/**
 * Every controller gets a started session: start() takes the id from the cookie named by
 * App\Config::session_name (or makes a new one) and sends the cookie itself.
 */
abstract class BaseController
{
    protected \Cannon\Session\Session $session;

    public function __construct()
    {
        $this->session = \Cannon\Session\Session::fromConfig('App\\Config');
        $this->session->start();
    }
}

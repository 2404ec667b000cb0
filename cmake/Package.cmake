# Package.cmake - what `make install` puts where, and the Debian package
# (`make deb`: cpack -G DEB in its own build directory). The layout:
#   /usr/bin/{crosstalk-fcgi,crosstalk-wsd,crosstalkctl}
#   /etc/crosstalk/crosstalk.conf            (conffile, 0640 root:crosstalk)
#   /lib/systemd/system/crosstalk-{fcgi,wsd}.service
#   /usr/share/crosstalk/{sql,web}/
#   /usr/share/doc/crosstalk/{DEPLOY.md,examples/{,iis/},copyright,changelog.gz}
#   /usr/share/man/man1/*.1.gz
include(GNUInstallDirs)
set(CT_PKG_DIR ${CMAKE_BINARY_DIR}/pkg)
file(MAKE_DIRECTORY ${CT_PKG_DIR})

install(TARGETS crosstalk-fcgi crosstalk-wsd crosstalkctl
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

# The packaged config: the sample, with the socket the units and the web
# server examples use and the daemons' least-privileged database role.
file(READ ${CMAKE_SOURCE_DIR}/conf/crosstalk.conf ct_conf)
foreach(pair
    "socket = 127.0.0.1:9000|socket = /run/crosstalk/fcgi.sock"
    "dbname=crosstalk user=crosstalk\n|dbname=crosstalk user=crosstalk_app\n")
  string(REPLACE "|" ";" pair "${pair}")
  list(GET pair 0 from)
  list(GET pair 1 to)
  string(FIND "${ct_conf}" "${from}" at)
  if(at LESS 0)
    message(WARNING "Package.cmake: conf/crosstalk.conf has no '${from}'")
  endif()
  string(REPLACE "${from}" "${to}" ct_conf "${ct_conf}")
endforeach()
file(WRITE ${CT_PKG_DIR}/crosstalk.conf "${ct_conf}")
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
  ${CMAKE_SOURCE_DIR}/conf/crosstalk.conf)
# shipped 0644 (no secret in it yet); postinst makes it 0640 root:crosstalk
install(FILES ${CT_PKG_DIR}/crosstalk.conf DESTINATION /etc/crosstalk)

install(FILES ${CMAKE_SOURCE_DIR}/conf/crosstalk-fcgi.service
  ${CMAKE_SOURCE_DIR}/conf/crosstalk-wsd.service
  DESTINATION /lib/systemd/system)

file(GLOB ct_sql ${CMAKE_SOURCE_DIR}/sql/[0-9]*.sql ${CMAKE_SOURCE_DIR}/sql/functions.sql)
install(FILES ${ct_sql} DESTINATION ${CMAKE_INSTALL_DATADIR}/crosstalk/sql)
install(DIRECTORY ${CMAKE_SOURCE_DIR}/web/
  DESTINATION ${CMAKE_INSTALL_DATADIR}/crosstalk/web
  FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)

set(ct_doc ${CMAKE_INSTALL_DATADIR}/doc/crosstalk)
install(FILES ${CMAKE_SOURCE_DIR}/conf/nginx-crosstalk.conf
  ${CMAKE_SOURCE_DIR}/conf/nginx-crosstalk-tls.conf
  ${CMAKE_SOURCE_DIR}/conf/apache-crosstalk.conf
  ${CMAKE_SOURCE_DIR}/conf/crosstalk.conf
  DESTINATION ${ct_doc}/examples)
install(FILES ${CMAKE_SOURCE_DIR}/conf/iis/web.config
  ${CMAKE_SOURCE_DIR}/conf/iis/crosstalk-unavailable.json
  DESTINATION ${ct_doc}/examples/iis)
install(FILES ${CMAKE_SOURCE_DIR}/cmake/deb/copyright DESTINATION ${ct_doc})
if(EXISTS ${CMAKE_SOURCE_DIR}/docs/DEPLOY.md)
  install(FILES ${CMAKE_SOURCE_DIR}/docs/DEPLOY.md DESTINATION ${ct_doc})
endif()

# gzip -9n: compressed, reproducible (no name or time in the header)
function(ct_gzip src dst)
  execute_process(COMMAND gzip -9nc ${src} OUTPUT_FILE ${dst}
    RESULT_VARIABLE rc)
  if(rc)
    message(FATAL_ERROR "gzip ${src} failed")
  endif()
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${src})
endfunction()
ct_gzip(${CMAKE_SOURCE_DIR}/cmake/deb/changelog ${CT_PKG_DIR}/changelog.gz)
install(FILES ${CT_PKG_DIR}/changelog.gz DESTINATION ${ct_doc})
foreach(page crosstalk-fcgi crosstalk-wsd crosstalkctl)
  ct_gzip(${CMAKE_SOURCE_DIR}/docs/man/${page}.1 ${CT_PKG_DIR}/${page}.1.gz)
  install(FILES ${CT_PKG_DIR}/${page}.1.gz
    DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
endforeach()

# ---- cpack -G DEB ----
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME crosstalk)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "crosstalk maintainers <crosstalk@example.org>")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES TRUE)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser, libwebsockets-evlib-ev")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "nginx | apache2, postgresql-client")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "postgresql")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
  "chat hub for ColdFusion apps sharing one PostgreSQL database")
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
  "crosstalk lets the users of several sister ColdFusion/Lucee apps chat with
each other, authorized by the apps' existing logins. It has a FastCGI HTTP
API for the apps' servers (crosstalk-fcgi), a WebSocket daemon with an
embeddable widget for browsers (crosstalk-wsd) and an administration tool
(crosstalkctl).")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  ${CMAKE_SOURCE_DIR}/cmake/deb/conffiles
  ${CMAKE_SOURCE_DIR}/cmake/deb/postinst
  ${CMAKE_SOURCE_DIR}/cmake/deb/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
include(CPack)

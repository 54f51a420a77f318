/** onebackup's own version, and the OpenNebula API version it answers to clients with. */
export const VERSION = Object.freeze({ onebackup: '0.1.0', opennebula: '7.4.0' });
